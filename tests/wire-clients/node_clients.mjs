// Unmodified Node.js PostgreSQL clients against the gateway's PostgreSQL port: node-postgres (pg), and LangChain.js's
// SqlDatabase over TypeORM and pg, driven directly (no model). Run by tests/Portcullis.EndToEndTests (PostgresWireTests)
// with PGHOST, PGPORT, PGPASSWORD (the agent's access token) and PORTCULLIS_SESSION set; prints one JSON object.
import "reflect-metadata";
import pg from "pg";
import { DataSource } from "typeorm";
import { SqlDatabase } from "@langchain/classic/sql_db";

const { PGHOST: host, PGPORT: port, PGPASSWORD: token, PORTCULLIS_SESSION: session } = process.env;
const options = `-c portcullis.session=${session}`;
// TLS is required for the token; the test stack's certificate is self-signed.
const ssl = { rejectUnauthorized: false };
const out = {};

const denial = async (run) => {
  try {
    await run();
    return { code: "ran" };
  } catch (error) {
    return { code: error.code, message: error.message };
  }
};

// node-postgres: a parameter (extended protocol), masked output, denials as errors with their SQLSTATE.
const client = new pg.Client({ host, port: Number(port), user: "agent", password: token, database: "warehouse", ssl, options });
await client.connect();
try {
  const rows = await client.query("SELECT id, email FROM demo.customers WHERE id <= $1 ORDER BY id", [2]);
  out.pg_rows = rows.rows.map((r) => [r.id, r.email]);
  out.pg_copy = await denial(() => client.query("COPY (SELECT 1) TO PROGRAM 'id'"));
  out.pg_drop = await denial(() => client.query("DROP TABLE demo.customers"));
} finally {
  await client.end();
}

// node-postgres transactions: BEGIN, statements (that see their own writes), ROLLBACK or COMMIT; an error inside fails the
// transaction (25P02 for what follows) until ROLLBACK. The rows carry PORTCULLIS_SESSION in their key, for the test to find.
const tx = new pg.Client({ host, port: Number(port), user: "agent", password: token, database: "warehouse", ssl, options });
await tx.connect();
try {
  const insert = (key, note) => tx.query("INSERT INTO demo.wire_tx_notes (id, note) VALUES ($1, $2)", [`${session}-${key}`, note]);
  const count = async (key) =>
    (await tx.query("SELECT count(*)::int AS n FROM demo.wire_tx_notes WHERE id = $1", [`${session}-${key}`])).rows[0].n;
  await tx.query("BEGIN");
  await insert("undone", "rolled back");
  out.pg_tx_seen_inside = await count("undone");
  await tx.query("ROLLBACK");
  out.pg_tx_after_rollback = await count("undone");
  await tx.query("BEGIN");
  await insert("kept", "committed");
  await tx.query("COMMIT");
  out.pg_tx_after_commit = await count("kept");
  await tx.query("BEGIN");
  await insert("failed", "in a failed transaction");
  out.pg_tx_error = await denial(() => tx.query("SELECT 1/0"));
  out.pg_tx_ignored = await denial(() => tx.query("SELECT 1"));
  await tx.query("ROLLBACK");
  out.pg_tx_after_failure = await count("failed");
} finally {
  await tx.end();
}

// LangChain.js SqlDatabase over TypeORM: the usable tables, a table's description with sample rows, and a query. Its table
// listing reads one row per column of the schema: it uses warehouse-wide (warehouse's rules and masking without its 20-row
// cap), so that what other tests create in the schema cannot push tables out of the listing.
const dataSource = new DataSource({
  type: "postgres", host, port: Number(port), username: "agent", password: token, database: "warehouse-wide", schema: "demo",
  ssl, extra: { options },
});
const db = await SqlDatabase.fromDataSourceParams({ appDataSource: dataSource });
try {
  out.langchain_tables = db.allTables.map((t) => t.tableName).sort();
  out.langchain_table_info = await db.getTableInfo(["customers"]);
  out.langchain_run = await db.run("SELECT email FROM demo.customers ORDER BY id LIMIT 2");
  out.langchain_drop = await denial(() => dataSource.query("DROP TABLE demo.customers"));
} finally {
  await dataSource.destroy();
}
console.log(JSON.stringify(out));
