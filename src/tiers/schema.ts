// The tiers' tables. Created bare and constrained/indexed after a build's bulk load (building a
// b-tree once is much faster than maintaining it row by row). Table and column names are what
// the policy, the leak guard, the PII datasets and analysts rely on.
//
// `tiers` is the loader's own schema (quarantined raw bodies are personal data, the run state is
// nobody's business): never in a tier, never granted.

export const TIER_TABLES = [
  'pseudonymized.messages',
  'pseudonymized.users',
  'pseudonymized.packages',
  'pseudonymized.users_messages',
  'pseudonymized.packages_messages',
  'pii.users',
  'pii.message_text',
] as const;

export const PSEUDONYMIZED_TABLES = TIER_TABLES.filter((t) => t.startsWith('pseudonymized.'));

/** Topics whose dot-separated parts are all ltree labels in every supported PostgreSQL (15: no '-'). */
export const LTREE_TOPIC = /^[A-Za-z0-9_]{1,255}(\.[A-Za-z0-9_]{1,255})*$/;

/** `schema` is `pseudonymized` or a staging schema (pg_temp for a top-off). */
export const pseudonymizedTablesSql = (schema: string, withLtree: boolean, temp = false) => {
  const create = temp ? 'CREATE TEMP TABLE' : `CREATE TABLE ${schema}.`;
  const t = (name: string) => (temp ? `${create} ${name}` : `${create}${name}`);
  return `
${t('messages')} (
  id integer NOT NULL,
  msg_id text NOT NULL,
  i integer NOT NULL,
  topic text NOT NULL,
  "timestamp" timestamp without time zone NOT NULL,
  category text NOT NULL,
  agent_pseudonym text,
  source_name text,
  source_version text,
  msg jsonb NOT NULL,
  headers jsonb${withLtree ? ',\n  topic_ltree public.ltree' : ''}
);
${t('users')} (id bigint NOT NULL, pseudonym text NOT NULL, period text NOT NULL);
${t('packages')} (id integer NOT NULL, name text NOT NULL);
${t('users_messages')} (user_id bigint NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);
${t('packages_messages')} (package_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL);`;
};

export const createTiersSql = (withLtree: boolean) => `
CREATE SCHEMA IF NOT EXISTS pseudonymized;
CREATE SCHEMA IF NOT EXISTS pii;
CREATE SCHEMA IF NOT EXISTS tiers;
COMMENT ON SCHEMA pseudonymized IS 'Datanommer with usernames replaced by keyed pseudonyms; free text, real names and e-mails removed.';
COMMENT ON SCHEMA pii IS 'Personal data: pseudonym -> username/e-mail, and the free text removed from pseudonymized.';
COMMENT ON SCHEMA tiers IS 'The tier loader''s state and quarantine (raw bodies: personal data). Owner only.';
DROP TABLE IF EXISTS ${TIER_TABLES.join(', ')}, tiers.quarantine, tiers.topoffs, tiers.state CASCADE;
${pseudonymizedTablesSql('pseudonymized', withLtree)}
CREATE TABLE pii.users (pseudonym text NOT NULL, username text NOT NULL, email text NOT NULL, period text NOT NULL);
COMMENT ON COLUMN pii.users.period IS 'the key period of the pseudonym (pseudonyms.rotation: all, a year, or a quarter)';
CREATE TABLE pii.message_text (
  msg_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('comment', 'commit')),
  author_name text,
  author_email text,
  body text NOT NULL
);
COMMENT ON COLUMN pii.message_text.msg_id IS 'messages.msg_id (the UUID) in datanommer and pseudonymized';
CREATE TABLE tiers.quarantine (
  id integer NOT NULL,
  msg_id text,
  "timestamp" timestamp without time zone NOT NULL,
  topic text,
  reason text NOT NULL,
  bytes bigint NOT NULL,
  body text,
  found_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, "timestamp")
);
CREATE TABLE tiers.state (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  source_schema text NOT NULL,
  layout text NOT NULL,
  rotation text NOT NULL,
  built_through date,
  built_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tiers.topoffs (day date PRIMARY KEY, messages integer NOT NULL, quarantined integer NOT NULL, seconds real NOT NULL, finished_at timestamptz NOT NULL DEFAULT now());`;

// The bridges carry no foreign keys: their per-row checks were a quarter of a top-off's time
// (two index probes through SPI per bridge row). The loader makes them consistent by
// construction instead: a bridge row only for a message it publishes, with that message's own
// timestamp, and a tier user made for every user a bridge names (pipeline.ts).
// Statistics on the whole msg/headers documents cost ~1 s per 100k rows and barely help plans.
const PLAIN_COLUMNS = 'id, msg_id, i, topic, "timestamp", category, agent_pseudonym, source_name, source_version';

export const finishTiersSql = (withLtree: boolean) => `
ALTER TABLE pseudonymized.messages ADD PRIMARY KEY (id, "timestamp");
CREATE UNIQUE INDEX ON pseudonymized.messages (msg_id);
CREATE INDEX ON pseudonymized.messages (topic);
CREATE INDEX ON pseudonymized.messages ("timestamp");
CREATE INDEX ON pseudonymized.messages (category);
${withLtree ? 'CREATE INDEX ON pseudonymized.messages USING gist (topic_ltree);' : ''}
ALTER TABLE pseudonymized.users ADD PRIMARY KEY (id), ADD UNIQUE (pseudonym);
ALTER TABLE pseudonymized.packages ADD PRIMARY KEY (id), ADD UNIQUE (name);
ALTER TABLE pseudonymized.users_messages ADD PRIMARY KEY (user_id, msg_id);
CREATE INDEX ON pseudonymized.users_messages (msg_id);
ALTER TABLE pseudonymized.packages_messages ADD PRIMARY KEY (package_id, msg_id);
CREATE INDEX ON pseudonymized.packages_messages (msg_id);
ALTER TABLE pii.users ADD PRIMARY KEY (pseudonym), ADD UNIQUE (username, period);
CREATE INDEX ON pii.message_text (msg_id);
ANALYZE pseudonymized.users, pseudonymized.packages, pseudonymized.users_messages, pseudonymized.packages_messages, pii.users, pii.message_text;
ANALYZE pseudonymized.messages (${PLAIN_COLUMNS});`;
