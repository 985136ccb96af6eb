// Node-only: ingests pgaudit's object-audit entries from PostgreSQL's jsonlog files into the
// access log as 'pii.read' events, one per audited statement, linked to the analyst and to the
// approved PII request in force at that moment.
//
// Exactly once: each file's byte offset (ingest_cursors) moves in the same transaction as the
// events it covers, with a compare-and-set, so a crash repeats nothing and loses nothing and two
// gate instances never ingest the same lines. A file is identified by its name and a hash of its
// first line, so a log that is truncated or replaced under the same name starts a new cursor.
import { createHash } from 'node:crypto';
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ControlDb, ControlTx } from '../db/client.js';
import { type AlertEvaluator, noAlerts } from '../alerts/evaluate.js';
import type { AlertHit } from '../alerts/rules.js';
import { notify } from '../notify/outbox.js';
import { addToReadRollups } from '../subjects/dal.js';
import * as dal from './dal.js';
import { type AuditEvent, appendAudit } from './log.js';
import type { PgauditRecord } from './pgaudit-log.js';
import { type StatementGroup, planChunk } from './pgaudit-plan.js';

export interface RequestInForce {
  requestId: number;
  purpose: string;
  dataset: string;
}

/**
 * The approved PII request of `analystUsername` that covered every one of `objects` (qualified
 * table names as pgaudit logs them) at `at`, if any. The real lookup is requestInForceLookup.
 */
export type FindRequestInForce = (analystUsername: string, at: Date, objects: string[]) => Promise<RequestInForce | null>;

/** Fails closed where no lookup is given: every PII read is then an alert for the auditor. */
export const noRequestInForce: FindRequestInForce = async () => null;

export interface IngestOptions {
  /** The directory PostgreSQL's logging collector writes its `*.json` files to. */
  logDir: string;
  /** Login roles under this prefix are the gate's analysts. */
  rolePrefix: string;
  findRequestInForce?: FindRequestInForce;
  /** The policy's alert rules (src/alerts/evaluate.ts alertEvaluator); none by default. */
  alerts?: AlertEvaluator;
  now?: () => Date;
  /** How long a statement's log lines may take to appear (see pgaudit-plan.ts). Default 5 s. */
  settleMs?: number;
  /** Bytes read at a time (grows when one statement does not fit). Default 8 MiB. */
  chunkBytes?: number;
}

export interface IngestResult {
  /** pgaudit object-audit lines ingested. */
  read: number;
  /** 'pii.read' events written: one per audited statement. */
  events: number;
  /** Of those, events flagged as alerts (no approved request in force, unknown role). */
  alerts: number;
  /** 'alert.raised' events written by the policy's alert rules (present only when some were). */
  raised?: number;
}

const BATCH_GROUPS = 200;
const SUBSTATEMENT_SEPARATOR = (n: number) => `\n-- pgaudit substatement ${n}:\n`;

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export async function ingestPgauditLogs(db: ControlDb, opts: IngestOptions): Promise<IngestResult> {
  const result: IngestResult = { read: 0, events: 0, alerts: 0 };
  for (const file of await logFiles(opts.logDir)) await ingestFile(db, file, opts, result);
  return result;
}

/** The jsonlog files, oldest first (log_filename patterns with dates sort the same way). */
async function logFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new Error(`the pgaudit log directory ${dir} cannot be read (${(err as Error).message})`);
  }
  const files = await Promise.all(
    names
      .filter((n) => n.endsWith('.json'))
      .map(async (n) => {
        const file = path.join(dir, n);
        // Removed by the server's log rotation meanwhile: nothing left to read.
        const st = await stat(file).catch(ignoreMissing);
        return st ? { file, mtime: st.mtimeMs } : null;
      }),
  );
  return files
    .filter((f) => f !== null)
    .sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file))
    .map((f) => f.file);
}

function ignoreMissing(err: NodeJS.ErrnoException): null {
  if (err.code === 'ENOENT') return null;
  throw err;
}

async function firstLine(fh: FileHandle, size: number): Promise<Buffer | null> {
  for (let len = Math.min(size, 4096); ; len = Math.min(size, len * 4)) {
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
    if (nl >= 0) return buf.subarray(0, nl);
    if (len >= size) return null;
  }
}

async function ingestFile(db: ControlDb, file: string, opts: IngestOptions, result: IngestResult): Promise<void> {
  const now = opts.now ?? (() => new Date());
  const settleMs = opts.settleMs ?? 5_000;
  const baseChunk = opts.chunkBytes ?? 8 * 1024 * 1024;
  const fh = await open(file, 'r').catch(ignoreMissing);
  if (!fh) return;
  try {
    const st = await fh.stat();
    const head = await firstLine(fh, st.size);
    if (!head) return; // not even one complete line yet
    const source = `pgaudit:${path.basename(file)}:${sha256Hex(head).slice(0, 16)}`;
    let position = await dal.cursorPosition(db, source);
    // Only bytes that existed at stat time are considered, so the "quiet" rule is sound.
    const quiet = st.mtimeMs <= now().getTime() - settleMs;
    let chunkBytes = baseChunk;
    while (position < st.size) {
      const len = Math.min(chunkBytes, st.size - position);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, position);
      const atEnd = position + bytesRead >= st.size;
      const lastNl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      const batches =
        lastNl < 0
          ? []
          : planChunk(buf.subarray(0, lastNl + 1), {
              base: position,
              quietToEnd: quiet && atEnd && lastNl + 1 === bytesRead,
              settleMs,
              batchGroups: BATCH_GROUPS,
            });
      if (batches.length === 0) {
        if (atEnd) return; // the rest is still being written
        chunkBytes *= 2; // one statement's lines did not fit: read more at once
        continue;
      }
      for (const batch of batches) {
        const done = await commitBatch(db, source, position, batch.end, batch.groups, opts, now);
        if (!done) return; // another gate instance moved this cursor: it ingests this file
        position = batch.end;
        result.read += done.read;
        result.events += done.events;
        result.alerts += done.alerts;
        if (done.raised) result.raised = (result.raised ?? 0) + done.raised;
      }
      chunkBytes = baseChunk;
    }
  } finally {
    await fh.close();
  }
}

interface PlannedEvent {
  event: AuditEvent;
  statement: string;
  sha: string;
  alert: boolean;
  /** Policy alert rules that fired on this statement. */
  hits: AlertHit[];
}

/** Writes a batch's events and moves the cursor, atomically; null when the cursor moved meanwhile. */
async function commitBatch(
  db: ControlDb,
  source: string,
  from: number,
  to: number,
  groups: StatementGroup[],
  opts: IngestOptions,
  now: () => Date,
): Promise<IngestResult | null> {
  // Lookups happen before the transaction: appendAudit holds the chain lock until commit.
  const planned = await planEvents(db, groups, opts, now);
  class Moved extends Error {}
  try {
    await db.transaction(async (tx) => {
      // Compare-and-set first: a concurrent ingester of the same file waits here, then finds the
      // position changed and rolls back.
      if (!(await dal.moveCursor(tx, source, from, to, now()))) throw new Moved();
      const readIds: number[] = [];
      for (const p of planned) {
        const eventId = await appendAudit(tx, p.event);
        readIds.push(eventId);
        await dal.insertReadStatement(tx, { eventId, statement: p.statement, statementSha256: p.sha });
        for (const hit of p.hits) await raiseAlert(tx, p.event, eventId, hit);
      }
      // The data-subject report's running totals (derived, migration 0012), in the same transaction
      // as the events and the cursor: a batch counts once or not at all.
      await addToReadRollups(tx, readIds);
    });
  } catch (err) {
    if (err instanceof Moved) return null;
    throw err;
  }
  const raised = planned.reduce((n, p) => n + p.hits.length, 0);
  return {
    read: groups.reduce((n, g) => n + g.records.length, 0),
    events: planned.length,
    alerts: planned.filter((p) => p.alert).length,
    ...(raised ? { raised } : {}),
  };
}

/**
 * One rule's hit: an 'alert.raised' event naming the pii.read event it is about (and the request
 * in force), and a webhook notification queued in the same transaction. Neither carries the
 * statement text, only the rule, the tables and the statement's hash.
 */
async function raiseAlert(tx: ControlTx, read: AuditEvent, readEventId: number, hit: AlertHit): Promise<void> {
  const d = read.details as { role: string; objects: string[]; statementSha256: string; loggedAt: string };
  const who = read.subject ?? d.role;
  const details = { rule: hit.rule, kind: hit.kind, reason: hit.reason, readEventId, role: d.role, objects: d.objects, statementSha256: d.statementSha256, loggedAt: d.loggedAt };
  const alertEventId = await appendAudit(tx, {
    action: 'alert.raised',
    actor: 'system:alerts',
    subject: read.subject ?? null,
    requestId: read.requestId ?? null,
    dataset: read.dataset ?? null,
    details,
  });
  await notify(tx, {
    event: 'alert.raised',
    // 0: no request was in force (receivers key ordering on it; there is nothing to order against).
    requestId: read.requestId ?? 0,
    analyst: who,
    datasets: read.dataset ? [read.dataset] : d.objects,
    text: `[FDWG] Alert ${hit.rule}: ${who}: ${hit.reason} (access log event #${readEventId}${read.requestId ? `, request #${read.requestId}` : ', no request in force'}).`,
    details: { ...details, alertEventId },
  });
}

/** The statement as the analyst sent it; a function's inner statements are appended in order. */
function statementText(records: PgauditRecord[]): string {
  const bySub = new Map<number, string>();
  for (const r of [...records].sort((a, b) => a.substatementId - b.substatementId)) {
    // With pgaudit.log_statement_once, repeats say "<previously logged>".
    if (!bySub.has(r.substatementId) && r.statement !== '<previously logged>') bySub.set(r.substatementId, r.statement);
  }
  const [first, ...rest] = [...bySub.entries()];
  if (!first) return '';
  return first[1] + rest.map(([n, s]) => `${SUBSTATEMENT_SEPARATOR(n)}${s}`).join('');
}

async function planEvents(db: ControlDb, groups: StatementGroup[], opts: IngestOptions, now: () => Date): Promise<PlannedEvent[]> {
  const find = opts.findRequestInForce ?? noRequestInForce;
  const managed = [...new Set(groups.map((g) => g.records[0]!.user))].filter((r) => r.startsWith(opts.rolePrefix));
  const known = await dal.analystsOfRoles(db, managed);
  const analystOf = new Map(known.map((a) => [a.roleName, a.username]));

  const out: PlannedEvent[] = [];
  for (const g of groups) {
    const first = g.records[0]!;
    const role = first.user;
    const username = analystOf.get(role) ?? null;
    const at = first.at ?? now();
    let reason: string | undefined;
    let request: RequestInForce | null = null;
    if (!role.startsWith(opts.rolePrefix)) reason = `the login role "${role}" is not managed by the gate`;
    else if (!username) reason = `no analyst of the gate has the login role "${role}"`;
    else {
      request = await find(username, at, [...new Set(g.records.map((r) => r.objectName))]);
      if (!request) reason = 'no approved PII request covering these tables was in force for this analyst at that moment';
    }
    const statement = statementText(g.records);
    const sha = sha256Hex(statement);
    out.push({
      statement,
      sha,
      hits: [],
      alert: request === null,
      event: {
        action: 'pii.read',
        actor: username ?? 'system:pgaudit',
        subject: username,
        requestId: request?.requestId ?? null,
        dataset: request?.dataset ?? null,
        details: {
          role,
          database: first.database,
          objects: [...new Set(g.records.map((r) => r.objectName))],
          command: first.command,
          sessionId: first.sessionId,
          statementId: first.statementId,
          statementSha256: sha,
          // ISO when the log's time zone is readable, else exactly as logged.
          loggedAt: first.at?.toISOString() ?? first.loggedAt,
          alert: request === null,
          ...(reason ? { reason } : {}),
          ...(request ? { purpose: request.purpose } : {}),
        },
      },
    });
  }
  const hits = await (opts.alerts ?? noAlerts)(
    groups.map((g, i) => {
      const first = g.records[0]!;
      const e = out[i]!.event;
      return {
        analyst: e.subject ?? null,
        request: e.requestId && e.dataset ? { requestId: e.requestId, dataset: e.dataset } : null,
        at: first.at ?? now(),
        objects: (e.details as { objects: string[] }).objects,
        command: first.command,
        statement: out[i]!.statement,
      };
    }),
  );
  hits.forEach((h, i) => (out[i]!.hits = h));
  return out;
}
