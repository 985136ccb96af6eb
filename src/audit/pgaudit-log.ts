// Parses PostgreSQL jsonlog lines that carry pgaudit object-audit entries. Pure and
// runtime-agnostic; reading the files is the Node ingester's job (pgaudit-ingest.ts).
//
// A jsonlog line is one JSON object per line (PostgreSQL escapes newlines inside strings), e.g.
//   {"timestamp":"2026-11-23 19:26:19.066 UTC","user":"fdwg_alice","dbname":"fdwg_warehouse",
//    "session_id":"6b04935b.76a","line_num":2,"error_severity":"LOG",
//    "message":"AUDIT: OBJECT,2,1,READ,SELECT,TABLE,pii.users,\"SELECT ... 'a,\"\"b\"\"' ...\",<not logged>", ...}
// pgaudit's message is one CSV record after "AUDIT: ":
//   AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER[,ROWS]
// where a field containing a comma, a double quote, CR or LF is wrapped in double quotes with inner
// quotes doubled (pgaudit's append_valid_csv); other fields are bare.

export interface PgauditRecord {
  /** When PostgreSQL logged the line; null when its time zone abbreviation cannot be read. */
  at: Date | null;
  /** The line's timestamp exactly as logged (log_timezone applies). */
  loggedAt: string;
  /** The login role (jsonlog `user`). */
  user: string;
  database: string;
  /** PostgreSQL's session id (`%c`): backend start time and pid, unique per session. */
  sessionId: string;
  /** pgaudit's per-session statement counter: all objects of one statement share it. */
  statementId: number;
  substatementId: number;
  /** READ, WRITE, ... */
  auditClass: string;
  command: string;
  objectType: string;
  objectName: string;
  statement: string;
}

const PREFIX = 'AUDIT: ';

/** Splits one CSV record as pgaudit writes it; null when quoting is malformed. */
export function splitPgauditCsv(text: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return null; // unterminated quoted field
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ',') return null; // garbage after a closing quote
      i++;
    } else {
      const comma = text.indexOf(',', i);
      if (comma < 0) {
        fields.push(text.slice(i));
        return fields;
      }
      fields.push(text.slice(i, comma));
      i = comma + 1;
    }
  }
}

/**
 * jsonlog's timestamp is `YYYY-MM-DD HH:MM:SS.mmm <zone abbreviation>` in log_timezone. UTC, GMT
 * and numeric offsets are unambiguous; names like CET/EST are not, so they give null (run the
 * server with log_timezone = 'UTC').
 */
export function parseLogTimestamp(s: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) ?(UTC|GMT|Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(s.trim());
  if (!m || m[3] === undefined) return null;
  const z = m[3];
  const zone = z === 'UTC' || z === 'GMT' || z === 'Z' ? 'Z' : z.length === 3 ? `${z}:00` : `${z.slice(0, 3)}:${z.slice(-2)}`;
  const time = m[2]!.replace(/(\.\d{3})\d*$/, '$1'); // Date takes milliseconds at most
  const d = new Date(`${m[1]}T${time}${zone}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Wall-clock milliseconds of a log timestamp, ignoring its zone: only for comparing two lines of
 * the same log (same log_timezone), e.g. "has the log moved on by a few seconds since this line".
 */
export function logClockMs(s: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)/.exec(s);
  if (!m) return null;
  const t = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isNaN(t) ? null : t;
}

interface JsonLogLine {
  timestamp?: unknown;
  user?: unknown;
  dbname?: unknown;
  session_id?: unknown;
  message?: unknown;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** One jsonlog line -> its pgaudit OBJECT entry; null for every other line (or a malformed one). */
export function parseJsonLogLine(line: string): PgauditRecord | null {
  // Cheap reject first: almost every line of a busy server's log is not an audit entry.
  if (!line.includes('"AUDIT: OBJECT,')) return null;
  let json: JsonLogLine;
  try {
    json = JSON.parse(line) as JsonLogLine;
  } catch {
    return null;
  }
  const message = str(json.message);
  if (!message.startsWith(PREFIX)) return null;
  const f = splitPgauditCsv(message.slice(PREFIX.length));
  // Session audit (pgaudit.log) entries are not PII reads by themselves: only OBJECT entries,
  // which exist exactly when the audit role holds the privilege used, i.e. a PII table was used.
  if (!f || f.length < 8 || f[0] !== 'OBJECT') return null;
  const statementId = Number(f[1]);
  const substatementId = Number(f[2]);
  if (!Number.isSafeInteger(statementId) || !Number.isSafeInteger(substatementId)) return null;
  const loggedAt = str(json.timestamp);
  return {
    at: parseLogTimestamp(loggedAt),
    loggedAt,
    user: str(json.user),
    database: str(json.dbname),
    sessionId: str(json.session_id),
    statementId,
    substatementId,
    auditClass: f[3]!,
    command: f[4]!,
    objectType: f[5]!,
    objectName: f[6]!,
    statement: f[7]!,
  };
}
