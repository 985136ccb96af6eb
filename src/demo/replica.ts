// A Datanommer replica in upstream's own schema (fedora-infra/datanommer, datanommer.models), for
// the tier loader's tests and bench: either body layout, plain or partitioned on timestamp (the
// shape of a TimescaleDB hypertable: rows live in child tables), and days of generated messages
// as the rows of each table in column order, ready for the database or for `\COPY` text files.
import { closeSync, openSync, writeSync } from 'node:fs';
import { generateMessage, type GeneratorContext } from './messages.js';
import { makePackages, makeUsers } from './population.js';
import { Prng } from './prng.js';
import type { DemoPackage, DemoUser } from './types.js';

export type BodyLayout = 'msg' | 'split';
export type Cells = (string | null)[];
export type DayRows = Record<'users' | 'packages' | 'messages' | 'users_messages' | 'packages_messages', Cells[]>;

export function replicaSchemaSql(schema: string, layout: BodyLayout, partitioned: boolean): string {
  const body = layout === 'msg' ? 'msg text NOT NULL' : 'msg_raw text,\n  msg_json jsonb';
  return `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE ${schema}.users (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE ${schema}.packages (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE ${schema}.messages (
  id integer NOT NULL,
  msg_id text,
  i integer NOT NULL,
  topic text,
  "timestamp" timestamp without time zone NOT NULL,
  certificate text,
  signature text,
  category text,
  agent_name text,
  crypto text,
  source_name text,
  source_version text,
  ${body},
  headers jsonb,
  PRIMARY KEY (id, "timestamp"),
  UNIQUE (msg_id, "timestamp")
)${partitioned ? ' PARTITION BY RANGE ("timestamp")' : ''};
${partitioned ? `CREATE TABLE ${schema}.messages_2025q1 PARTITION OF ${schema}.messages FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');
CREATE TABLE ${schema}.messages_rest PARTITION OF ${schema}.messages DEFAULT;` : ''}
CREATE INDEX ON ${schema}.messages (topic);
CREATE TABLE ${schema}.users_messages (user_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL, PRIMARY KEY (user_id, msg_id));
CREATE INDEX ON ${schema}.users_messages (msg_id);
CREATE TABLE ${schema}.packages_messages (package_id integer NOT NULL, msg_id integer NOT NULL, msg_timestamp timestamp without time zone NOT NULL, PRIMARY KEY (package_id, msg_id));
CREATE INDEX ON ${schema}.packages_messages (msg_id);`;
}

export class ReplicaGenerator {
  readonly users: DemoUser[];
  readonly packages: DemoPackage[];
  private readonly ctx: GeneratorContext;
  private k = 0;
  private nextId = 1;

  constructor(
    seed: number,
    readonly layout: BodyLayout,
  ) {
    const prng = new Prng(seed);
    this.packages = makePackages(prng);
    this.users = makeUsers(prng, this.packages);
    this.ctx = { prng, users: this.users, packages: this.packages, total: 1_000_000 };
  }

  population(): Pick<DayRows, 'users' | 'packages'> {
    return {
      users: this.users.map((u) => [String(u.id), u.username]),
      packages: this.packages.map((p) => [String(p.id), p.name]),
    };
  }

  /** `count` messages spread over `day` (UTC), with their bridge rows; ids continue across days. */
  day(day: string, count: number): DayRows {
    const userIds = new Map(this.users.map((u) => [u.username, u.id]));
    const packageIds = new Map(this.packages.map((p) => [p.name, p.id]));
    const out: DayRows = { users: [], packages: [], messages: [], users_messages: [], packages_messages: [] };
    const start = Date.parse(`${day}T00:00:00Z`);
    for (let j = 0; j < count; j++) {
      const m = generateMessage(this.ctx, this.k++);
      const id = this.nextId++;
      const iso = new Date(start + Math.floor(((j + 0.5) * 86_400_000) / count)).toISOString();
      const ts = `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
      const body = JSON.stringify(m.msg);
      const bodyCells = this.layout === 'msg' ? [body] : [body, j % 2 === 0 ? body : null]; // msg_json half filled
      out.messages.push([
        String(id), m.msgId, '1', m.topic, ts, null, null, m.category, m.agentName, null, m.sourceName, m.sourceVersion,
        ...bodyCells, JSON.stringify(m.headers),
      ]);
      for (const u of m.usernames) out.users_messages.push([String(userIds.get(u)), String(id), ts]);
      for (const p of m.packages) out.packages_messages.push([String(packageIds.get(p)), String(id), ts]);
    }
    return out;
  }

  /** A message row whose body is `body` (raw JSON text, possibly not JSON at all). */
  badRow(day: string, body: string): Cells {
    const id = this.nextId++;
    const cells = this.layout === 'msg' ? [body] : [body, null];
    return [String(id), `bad-${id}`, '1', 'org.fedoraproject.prod.bodhi.update.comment', `${day} 12:00:00.5`, null, null, 'bodhi', null, null, 'bodhi', '8', ...cells, '{}'];
  }
}

const escapeCell = (c: string | null) =>
  c === null ? '\\N' : c.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');

/** Writes `<dir>/<table>.copy` in PostgreSQL's text format, as `psql \COPY <table> TO` does. */
export function writeCopyFiles(dir: string, rows: Partial<DayRows>): void {
  for (const [table, list] of Object.entries(rows)) {
    const fd = openSync(`${dir}/${table}.copy`, 'w');
    try {
      for (let i = 0; i < list.length; i += 10_000) writeSync(fd, list.slice(i, i + 10_000).map((r) => `${r.map(escapeCell).join('\t')}\n`).join(''));
    } finally {
      closeSync(fd);
    }
  }
}
