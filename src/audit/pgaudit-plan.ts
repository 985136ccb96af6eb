// Decides which part of a chunk of jsonlog lines can be ingested now. Pure (no I/O), so the
// tricky part of ingestion is testable on its own.
//
// pgaudit writes one line per object of a statement, as separate log messages: a reader can see
// the first line of a statement before the second exists. So a statement's lines are grouped
// (session + pgaudit statement id) and a group is only ingested once it is known to be complete:
//   1. a later audit line of the same session belongs to another statement, or
//   2. a later line of the log (any session) is at least `settleMs` younger, or
//   3. the chunk reaches the end of the file and the file has not changed for `settleMs`.
// The cursor only ever stops at a "clean" line boundary: one that no group straddles. Groups after
// the last clean boundary are left for the next run, so a crash or a re-read can neither duplicate
// nor lose a statement.
import { type PgauditRecord, logClockMs, parseJsonLogLine } from './pgaudit-log.js';

export interface StatementGroup {
  records: PgauditRecord[];
}

export interface PlannedBatch {
  groups: StatementGroup[];
  /** Absolute file offset just after the batch's last line: the cursor once it is committed. */
  end: number;
}

export interface ChunkContext {
  /** Absolute offset of the chunk's first byte. */
  base: number;
  /** True when nothing was written to the file for settleMs and the chunk reaches its end. */
  quietToEnd: boolean;
  settleMs: number;
  /** Groups per batch (one control transaction each). */
  batchGroups: number;
}

interface Group extends StatementGroup {
  first: number;
  last: number;
  /** Index of the last line that must be read before this group may be ingested. */
  reach: number;
}

const TIMESTAMP = /^\{"timestamp":"([^"]+)"/;
const NEWLINE = 0x0a;

/** `chunk` holds complete lines only (it ends with a newline). */
export function planChunk(chunk: Buffer, ctx: ChunkContext): PlannedBatch[] {
  const ends: number[] = [];
  const clocks: number[] = [];
  const groupOf: Array<Group | undefined> = [];
  const groups = new Map<string, Group>();
  for (let start = 0, i = 0; start < chunk.length; i++) {
    const nl = chunk.indexOf(NEWLINE, start);
    const line = chunk.toString('utf8', start, nl);
    ends.push(nl + 1);
    start = nl + 1;
    const ts = TIMESTAMP.exec(line);
    clocks.push((ts && logClockMs(ts[1]!)) ?? Number.NEGATIVE_INFINITY);
    const record = parseJsonLogLine(line);
    if (!record) {
      groupOf.push(undefined);
      continue;
    }
    const key = `${record.sessionId}\u0000${record.statementId}`;
    let g = groups.get(key);
    if (!g) {
      g = { records: [], first: i, last: i, reach: Number.POSITIVE_INFINITY };
      groups.set(key, g);
    }
    g.records.push(record);
    g.last = i;
    groupOf.push(g);
  }
  const n = ends.length;

  // Rule 1: per session, every group but the one whose last line comes last is complete.
  const latestOfSession = new Map<string, Group>();
  for (const g of groups.values()) {
    const s = g.records[0]!.sessionId;
    const cur = latestOfSession.get(s);
    if (!cur || g.last > cur.last) latestOfSession.set(s, g);
  }
  // Rule 2 needs the latest clock after each line.
  const laterClock = new Array<number>(n + 1).fill(Number.NEGATIVE_INFINITY);
  for (let i = n - 1; i >= 0; i--) laterClock[i] = Math.max(laterClock[i + 1]!, clocks[i]!);
  for (const g of groups.values()) {
    const complete =
      latestOfSession.get(g.records[0]!.sessionId) !== g ||
      (Number.isFinite(clocks[g.last]!) && laterClock[g.last + 1]! >= clocks[g.last]! + ctx.settleMs) ||
      ctx.quietToEnd;
    if (complete) g.reach = g.last;
  }

  const batches: PlannedBatch[] = [];
  let pending: Group[] = [];
  let ready: Group[] = [];
  let readyEnd = -1;
  let reach = -1;
  for (let i = 0; i < n; i++) {
    const g = groupOf[i];
    if (g) {
      if (g.first === i) pending.push(g);
      reach = Math.max(reach, g.reach);
    }
    if (reach > i) continue;
    // A clean boundary after line i: every group started so far is complete and read whole.
    ready = ready.concat(pending);
    pending = [];
    readyEnd = ctx.base + ends[i]!;
    if (ready.length >= ctx.batchGroups) {
      batches.push({ groups: ready, end: readyEnd });
      ready = [];
    }
  }
  const lastEnd = batches.at(-1)?.end ?? -1;
  if (readyEnd > lastEnd) batches.push({ groups: ready, end: readyEnd });
  return batches;
}
