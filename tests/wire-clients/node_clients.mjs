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

// LangChain.js SqlDatabase over TypeORM: the usable tables, a table's description with sample rows, and a query.
const dataSource = new DataSource({
  type: "postgres", host, port: Number(port), username: "agent", password: token, database: "warehouse", schema: "demo",
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
