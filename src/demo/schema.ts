// DDL of the demo's Datanommer-shaped source, schema `datanommer` of the warehouse (the tiers are
// built from it by src/tiers/, as from a real replica). Tables are created bare and
// constrained/indexed after the bulk load: building a b-tree once is much faster than
// maintaining it row by row.
//
// The layout follows datanommer's: messages keyed by (id, timestamp) because the production
// table is a TimescaleDB hypertable partitioned on timestamp, and bridge tables that point at
// a message with (msg_id, msg_timestamp). `msg` is jsonb, as the FDWG replica converts it.

export const SCHEMAS = ['datanommer', 'pseudonymized', 'pii', 'tiers'] as const;

export const CREATE_SQL = `
${SCHEMAS.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join('\n')}
CREATE SCHEMA datanommer;
COMMENT ON SCHEMA datanommer IS 'Raw Datanommer-shaped source (demo data). Owner only.';
CREATE TABLE datanommer.messages (
  id integer NOT NULL,
  msg_id text NOT NULL,
  i integer NOT NULL,
  topic text NOT NULL,
  "timestamp" timestamp without time zone NOT NULL,
  category text NOT NULL,
  agent_name text,
  source_name text,
  source_version text,
  msg jsonb NOT NULL,
  headers jsonb
);
CREATE TABLE datanommer.users (id integer NOT NULL, name text NOT NULL);
CREATE TABLE datanommer.packages (id integer NOT NULL, name text NOT NULL);
CREATE TABLE datanommer.users_messages (user_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);
CREATE TABLE datanommer.packages_messages (package_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);
`;

export const FINISH_SQL = `
ALTER TABLE datanommer.messages ADD PRIMARY KEY (id, "timestamp");
CREATE UNIQUE INDEX ON datanommer.messages (msg_id);
CREATE INDEX ON datanommer.messages (topic);
CREATE INDEX ON datanommer.messages ("timestamp");
CREATE INDEX ON datanommer.messages (category);
ALTER TABLE datanommer.users ADD PRIMARY KEY (id), ADD UNIQUE (name);
ALTER TABLE datanommer.packages ADD PRIMARY KEY (id), ADD UNIQUE (name);
ALTER TABLE datanommer.users_messages ADD PRIMARY KEY (user_id, msg_id),
  ADD FOREIGN KEY (user_id) REFERENCES datanommer.users (id),
  ADD FOREIGN KEY (msg_id, msg_timestamp) REFERENCES datanommer.messages (id, "timestamp");
CREATE INDEX ON datanommer.users_messages (msg_id);
ALTER TABLE datanommer.packages_messages ADD PRIMARY KEY (package_id, msg_id),
  ADD FOREIGN KEY (package_id) REFERENCES datanommer.packages (id),
  ADD FOREIGN KEY (msg_id, msg_timestamp) REFERENCES datanommer.messages (id, "timestamp");
CREATE INDEX ON datanommer.packages_messages (msg_id);
ANALYZE datanommer.users, datanommer.packages, datanommer.users_messages, datanommer.packages_messages;
ANALYZE datanommer.messages (id, msg_id, i, topic, "timestamp", category, agent_name, source_name, source_version);
`;
