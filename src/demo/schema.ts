// DDL for the three tiers. Tables are created bare and constrained/indexed after the bulk
// load: building a b-tree once is much faster than maintaining it row by row.
//
// The layout follows datanommer's: messages keyed by (id, timestamp) because the production
// table is a TimescaleDB hypertable partitioned on timestamp, and bridge tables that point at
// a message with (msg_id, msg_timestamp).

export const SCHEMAS = ['datanommer', 'pseudonymized', 'pii'] as const;

const TIER_TABLES = ['messages', 'users', 'packages', 'users_messages', 'packages_messages'];
export const ALL_TABLES = [
  ...TIER_TABLES.map((t) => `datanommer.${t}`),
  ...TIER_TABLES.map((t) => `pseudonymized.${t}`),
  'pii.users',
  'pii.message_text',
];

const messagesTable = (schema: string, agentColumn: string) => `
CREATE TABLE ${schema}.messages (
  id integer NOT NULL,
  msg_id text NOT NULL,
  i integer NOT NULL,
  topic text NOT NULL,
  "timestamp" timestamp without time zone NOT NULL,
  category text NOT NULL,
  ${agentColumn} text,
  source_name text,
  source_version text,
  msg jsonb NOT NULL,
  headers jsonb
);
CREATE TABLE ${schema}.users_messages (user_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);
CREATE TABLE ${schema}.packages_messages (package_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);
CREATE TABLE ${schema}.packages (id integer NOT NULL, name text NOT NULL);`;

const messagesConstraints = (schema: string) => `
ALTER TABLE ${schema}.messages ADD PRIMARY KEY (id, "timestamp");
CREATE UNIQUE INDEX ON ${schema}.messages (msg_id);
CREATE INDEX ON ${schema}.messages (topic);
CREATE INDEX ON ${schema}.messages ("timestamp");
CREATE INDEX ON ${schema}.messages (category);
ALTER TABLE ${schema}.users ADD PRIMARY KEY (id);
ALTER TABLE ${schema}.packages ADD PRIMARY KEY (id), ADD UNIQUE (name);
ALTER TABLE ${schema}.users_messages ADD PRIMARY KEY (user_id, msg_id),
  ADD FOREIGN KEY (user_id) REFERENCES ${schema}.users (id),
  ADD FOREIGN KEY (msg_id, msg_timestamp) REFERENCES ${schema}.messages (id, "timestamp");
CREATE INDEX ON ${schema}.users_messages (msg_id);
ALTER TABLE ${schema}.packages_messages ADD PRIMARY KEY (package_id, msg_id),
  ADD FOREIGN KEY (package_id) REFERENCES ${schema}.packages (id),
  ADD FOREIGN KEY (msg_id, msg_timestamp) REFERENCES ${schema}.messages (id, "timestamp");
CREATE INDEX ON ${schema}.packages_messages (msg_id);`;

export const CREATE_SQL = `
${SCHEMAS.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join('\n')}
${SCHEMAS.map((s) => `CREATE SCHEMA ${s};`).join('\n')}
COMMENT ON SCHEMA datanommer IS 'Raw Datanommer-shaped source (demo data). Owner only.';
COMMENT ON SCHEMA pseudonymized IS 'Datanommer with usernames replaced by keyed pseudonyms; free text, real names and e-mails removed.';
COMMENT ON SCHEMA pii IS 'Personal data: pseudonym -> username/e-mail, and the free text removed from pseudonymized.';
${messagesTable('datanommer', 'agent_name')}
CREATE TABLE datanommer.users (id integer NOT NULL, name text NOT NULL);
${messagesTable('pseudonymized', 'agent_pseudonym')}
CREATE TABLE pseudonymized.users (id integer NOT NULL, pseudonym text NOT NULL);
CREATE TABLE pii.users (pseudonym text NOT NULL, username text NOT NULL, email text NOT NULL);
CREATE TABLE pii.message_text (
  msg_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('comment', 'commit')),
  author_name text,
  author_email text,
  body text NOT NULL
);
COMMENT ON COLUMN pii.message_text.msg_id IS 'messages.msg_id (the UUID) in datanommer and pseudonymized';
`;

export const COPY_BRIDGES_SQL = `
INSERT INTO pseudonymized.users_messages SELECT * FROM datanommer.users_messages;
INSERT INTO pseudonymized.packages_messages SELECT * FROM datanommer.packages_messages;
`;

// Statistics on the whole msg/headers documents cost ~1 s per 100k rows (sorting 30k sampled
// jsonb values) and barely help plans: conditions like msg->>'x' = ... never use them.
const PLAIN_MESSAGE_COLUMNS = (agentColumn: string) =>
  ['id', 'msg_id', 'i', 'topic', '"timestamp"', 'category', agentColumn, 'source_name', 'source_version'].join(', ');

export const FINISH_SQL = `
${messagesConstraints('datanommer')}
ALTER TABLE datanommer.users ADD UNIQUE (name);
${messagesConstraints('pseudonymized')}
ALTER TABLE pseudonymized.users ADD UNIQUE (pseudonym);
ALTER TABLE pii.users ADD PRIMARY KEY (pseudonym), ADD UNIQUE (username);
CREATE INDEX ON pii.message_text (msg_id);
ANALYZE ${ALL_TABLES.filter((t) => !t.endsWith('.messages')).join(', ')};
ANALYZE datanommer.messages (${PLAIN_MESSAGE_COLUMNS('agent_name')});
ANALYZE pseudonymized.messages (${PLAIN_MESSAGE_COLUMNS('agent_pseudonym')});
`;
