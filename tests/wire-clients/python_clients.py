"""Unmodified Python PostgreSQL clients against the gateway's PostgreSQL port (Debian's python3-psycopg,
python3-psycopg2, python3-sqlalchemy, python3-asyncpg). Run by tests/Portcullis.EndToEndTests (PostgresWireTests) with PGHOST,
PGPORT, PGPASSWORD (the agent's access token) and PORTCULLIS_SESSION set; prints one JSON object."""
import asyncio
import json
import os

import asyncpg

import psycopg
import sqlalchemy
import sqlalchemy.orm

host, port, session = os.environ["PGHOST"], os.environ["PGPORT"], os.environ["PORTCULLIS_SESSION"]
token = os.environ["PGPASSWORD"]
options = f"-c portcullis.session={session}"
out = {}

# psycopg 3: extended protocol, a bound parameter, masked output; a denial is an exception with its SQLSTATE.
with psycopg.connect(host=host, port=port, dbname="warehouse", user="agent", password=token,
                     sslmode="require", options=options) as conn:
    rows = conn.execute("SELECT id, email FROM demo.customers WHERE id <= %s ORDER BY id", (2,)).fetchall()
    out["psycopg_rows"] = [list(r) for r in rows]
    try:
        conn.execute("DROP TABLE demo.customers")
        out["psycopg_drop"] = "ran"
    except psycopg.Error as error:
        out["psycopg_drop"] = error.sqlstate
        out["psycopg_drop_message"] = str(error)
        conn.rollback()

# psycopg's default mode: a transaction begins with the first statement and ends with commit() or rollback(), for real.
with psycopg.connect(host=host, port=port, dbname="warehouse", user="agent", password=token,
                     sslmode="require", options=options) as conn:
    conn.execute("INSERT INTO demo.wire_tx_notes (id, note) VALUES (%s, 'psycopg, rolled back')", (f"{session}-psycopg-undone",))
    out["psycopg_in_transaction"] = conn.info.transaction_status.name
    conn.rollback()
    conn.execute("INSERT INTO demo.wire_tx_notes (id, note) VALUES (%s, 'psycopg, committed')", (f"{session}-psycopg-kept",))
    conn.commit()
    out["psycopg_after_commit"] = conn.info.transaction_status.name

# SQLAlchemy over psycopg2 (simple query protocol): its connect-time statements and table reflection.
url = sqlalchemy.engine.URL.create("postgresql+psycopg2", username="agent", password=token, host=host, port=int(port),
                                   database="warehouse", query={"sslmode": "require", "options": options})
engine = sqlalchemy.create_engine(url)
inspector = sqlalchemy.inspect(engine)
out["sqlalchemy_tables"] = sorted(inspector.get_table_names(schema="demo"))
out["sqlalchemy_columns"] = [c["name"] for c in inspector.get_columns("customers", schema="demo")]
with engine.connect() as conn:
    out["sqlalchemy_emails"] = [r[0] for r in conn.execute(sqlalchemy.text("SELECT email FROM demo.customers ORDER BY id LIMIT 2"))]

# A SQLAlchemy ORM session: its work is one transaction, kept by commit() and undone by rollback().
with sqlalchemy.orm.Session(engine) as orm:
    insert = sqlalchemy.text("INSERT INTO demo.wire_tx_notes (id, note) VALUES (:id, :note)")
    orm.execute(insert, {"id": f"{session}-sqlalchemy-undone", "note": "sqlalchemy, rolled back"})
    orm.rollback()
    orm.execute(insert, {"id": f"{session}-sqlalchemy-kept", "note": "sqlalchemy, committed"})
    orm.commit()


# asyncpg: every query is a prepared statement, described (Parse + Describe) before it is bound, with parameters and
# results in binary. The describe goes through policy: a denied statement is refused before it is even described.
async def run_asyncpg():
    conn = await asyncpg.connect(host=host, port=int(port), user="agent", password=token, database="warehouse",
                                 ssl="require", server_settings={"portcullis.session": session}, command_timeout=60)
    try:
        rows = await conn.fetch("SELECT id, email FROM demo.customers WHERE id <= $1 ORDER BY id", 2)
        out["asyncpg_rows"] = [[r["id"], r["email"]] for r in rows]
        statement = await conn.prepare("SELECT count(*) AS customers FROM demo.customers WHERE id > $1")
        out["asyncpg_parameters"] = [t.name for t in statement.get_parameters()]
        out["asyncpg_columns"] = [a.name for a in statement.get_attributes()]
        out["asyncpg_count"] = await statement.fetchval(0)
        try:
            await conn.fetch("DROP TABLE demo.customers")
            out["asyncpg_drop"] = "ran"
        except asyncpg.PostgresError as error:
            out["asyncpg_drop"] = error.sqlstate
            out["asyncpg_drop_message"] = str(error)
    finally:
        await conn.close()


asyncio.run(run_asyncpg())
print(json.dumps(out))
