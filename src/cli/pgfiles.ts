// libpq's own files, edited the way libpq reads them: `~/.pgpass` (or $PGPASSFILE) gets exactly one
// line for the gate's host:port:database:role and `~/.pg_service.conf` (or $PGSERVICEFILE) exactly
// one `[fdwg]` section. Every other line and section stays byte for byte; files are written whole
// (temporary file, then rename) with mode 0600, so a reader never sees half a file.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

export type EditResult = { content: string; action: 'added' | 'updated' | 'unchanged' };

// --- Lines ---------------------------------------------------------------------------------------

/** Splits a file into lines without their `\n`; a final newline gives no extra line. */
function splitLines(content: string): { lines: string[]; finalNewline: boolean; eol: string } {
  const finalNewline = content.endsWith('\n');
  const lines = content === '' ? [] : (finalNewline ? content.slice(0, -1) : content).split('\n');
  // New lines follow the file's convention (libpq strips a trailing \r in both files).
  const eol = /\r\n/.test(content) && !/(^|[^\r])\n/.test(content) ? '\r\n' : '\n';
  return { lines, finalNewline, eol };
}

function joinLines(lines: string[], finalNewline: boolean): string {
  if (lines.length === 0) return '';
  return lines.join('\n') + (finalNewline ? '\n' : '');
}

// --- ~/.pgpass -----------------------------------------------------------------------------------

/** A field as libpq wants it: `\` and `:` escaped with a backslash. */
export const pgpassField = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

export function pgpassLine(t: PgTarget, password: string): string {
  // A field that is "*" alone would be a wildcard to libpq; escaped, it is a literal star.
  const key = [t.host, String(t.port), t.database, t.user].map((f) => (f === '*' ? '\\*' : pgpassField(f)));
  const line = [...key, pgpassField(password)].join(':');
  // libpq skips a line starting with "#" as a comment; an escaped "#" is read as itself.
  return line.startsWith('#') ? `\\${line}` : line;
}

interface PgpassField {
  value: string;
  /** An unescaped `*` alone: libpq matches anything with it. */
  wildcard: boolean;
}

/**
 * The five fields of a ~/.pgpass line as libpq reads it (backslash escapes, `*` wildcards), or
 * undefined for a comment, a blank line or a line with fewer than five fields (libpq skips those).
 */
export function parsePgpassLine(raw: string): PgpassField[] | undefined {
  const line = raw.replace(/\r$/, '');
  if (line === '' || line.startsWith('#')) return undefined;
  const fields: PgpassField[] = [];
  let value = '';
  let escaped = false;
  let sawEscape = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    // libpq ends the password at an unescaped ":" too (and ignores the rest).
    if (fields.length === 4 && !escaped && ch === ':') break;
    if (fields.length < 4 && !escaped && ch === ':') {
      fields.push({ value, wildcard: value === '*' && !sawEscape });
      value = '';
      sawEscape = false;
      continue;
    }
    if (!escaped && ch === '\\') {
      escaped = true;
      sawEscape = true;
      continue;
    }
    escaped = false;
    value += ch;
  }
  if (fields.length < 4) return undefined;
  fields.push({ value, wildcard: false });
  return fields;
}

const keyOf = (t: PgTarget) => [t.host, String(t.port), t.database, t.user];

/**
 * Sets the password for `t`: the line for exactly this host:port:database:user is replaced in
 * place (further copies of it are dropped). A new line goes at the end, or just before the first
 * line libpq would otherwise pick for this target (a wildcard line such as `*:*:*:*:old`), since
 * libpq uses the first line that matches.
 */
export function upsertPgpass(content: string, t: PgTarget, password: string): EditResult {
  const { lines, finalNewline, eol } = splitLines(content);
  const key = keyOf(t);
  let exact = -1;
  let shadow = -1;
  const duplicates = new Set<number>();
  lines.forEach((raw, i) => {
    const fields = parsePgpassLine(raw);
    if (!fields) return;
    const isExact = key.every((k, n) => !fields[n]!.wildcard && fields[n]!.value === k);
    const matches = key.every((k, n) => fields[n]!.wildcard || fields[n]!.value === k);
    if (isExact) {
      if (exact === -1) exact = i;
      else duplicates.add(i);
    } else if (matches && shadow === -1) {
      shadow = i;
    }
  });
  const cr = eol === '\r\n' ? '\r' : '';
  const line = pgpassLine(t, password);
  let out: string[];
  let appended = false;
  if (exact !== -1 && (shadow === -1 || exact < shadow)) {
    // In place, keeping the line's own ending.
    out = lines
      .map((l, i) => (i === exact ? line + (l.endsWith('\r') ? '\r' : '') : l))
      .filter((_, i) => !duplicates.has(i));
  } else {
    // New, or moved up above a line that would shadow it.
    const drop = new Set(duplicates);
    if (exact !== -1) drop.add(exact);
    out = [];
    lines.forEach((l, i) => {
      if (i === shadow) out.push(line + cr);
      if (!drop.has(i)) out.push(l);
    });
    if (shadow === -1) {
      out.push(line + cr);
      appended = true;
    }
  }
  // A file without a final newline gets one only when a line was added after its last line.
  const result = joinLines(out, finalNewline || appended);
  const action = result === content ? 'unchanged' : exact === -1 ? 'added' : 'updated';
  return { content: result, action };
}

// --- ~/.pg_service.conf --------------------------------------------------------------------------

/** `[name]` as libpq reads a group header (leading and trailing blanks ignored), else undefined. */
function sectionName(raw: string): string | undefined {
  const m = /^\s*\[([^\]]*)\]\s*$/.exec(raw);
  return m ? m[1] : undefined;
}

/** The key of a `key=value` line (libpq takes the key as written; we also ignore blanks around it). */
function keyOfParam(raw: string): string | undefined {
  const line = raw.trimStart();
  if (line === '' || line.startsWith('#') || line.startsWith('[')) return undefined;
  const eq = line.indexOf('=');
  return eq === -1 ? undefined : line.slice(0, eq).trim();
}

/**
 * Keys in our section that would defeat it: a `password` there overrides ~/.pgpass, a `passfile`
 * sends libpq to another password file. The section is the gate's, so they go.
 */
const DROPPED_KEYS = new Set(['password', 'passfile']);

/**
 * Makes `[name]` hold exactly `params` (in that order for new keys). An existing section is
 * edited in place: its header and every other line (comments, `sslmode=…` the user added) stay,
 * our keys are set where they are, missing ones follow the section's last setting. Further
 * sections of the same name are removed (libpq would only read the first).
 */
export function upsertService(content: string, name: string, params: Array<[string, string]>): EditResult {
  const { lines, finalNewline, eol } = splitLines(content);
  const cr = eol === '\r\n' ? '\r' : '';
  const ours = new Map(params);
  const sections: Array<{ start: number; end: number }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (sectionName(lines[i]!) !== name) continue;
    let end = i + 1;
    while (end < lines.length && sectionName(lines[end]!) === undefined) end++;
    sections.push({ start: i, end });
    i = end - 1;
  }
  const paramLines = (keys: Iterable<string>) => [...keys].map((k) => `${k}=${ours.get(k)}${cr}`);

  if (sections.length === 0) {
    const out = [...lines];
    const last = out[out.length - 1];
    if (last !== undefined && last.trim() !== '') out.push(cr);
    out.push(`[${name}]${cr}`, ...paramLines(ours.keys()));
    return { content: joinLines(out, true), action: 'added' };
  }

  const first = sections[0]!;
  const body = lines.slice(first.start + 1, first.end);
  const seen = new Set<string>();
  const newBody: string[] = [];
  let lastParam = -1;
  for (const raw of body) {
    const key = keyOfParam(raw);
    if (key !== undefined && (DROPPED_KEYS.has(key) || (ours.has(key) && seen.has(key)))) continue;
    if (key !== undefined && ours.has(key)) {
      seen.add(key);
      newBody.push(`${key}=${ours.get(key)}${raw.endsWith('\r') ? '\r' : ''}`);
    } else {
      newBody.push(raw);
    }
    if (key !== undefined) lastParam = newBody.length - 1;
  }
  const missing = paramLines([...ours.keys()].filter((k) => !seen.has(k)));
  newBody.splice(lastParam + 1, 0, ...missing);

  const out: string[] = [];
  let i = 0;
  for (const s of sections) {
    out.push(...lines.slice(i, s.start));
    if (s === first) out.push(lines[s.start]!, ...newBody);
    i = s.end;
  }
  out.push(...lines.slice(i));
  const result = joinLines(out, finalNewline || missing.length > 0 && first.end === lines.length);
  return { content: result, action: result === content ? 'unchanged' : 'updated' };
}

export function serviceParams(t: PgTarget): Array<[string, string]> {
  return [
    ['host', t.host],
    ['port', String(t.port)],
    ['dbname', t.database],
    ['user', t.user],
  ];
}

// --- Files ---------------------------------------------------------------------------------------

/** Where libpq looks: $PGPASSFILE, else ~/.pgpass. */
export const pgpassPath = (env: NodeJS.ProcessEnv = process.env) =>
  path.resolve(env.PGPASSFILE || path.join(os.homedir(), '.pgpass'));
/** Where libpq looks for per-user services: $PGSERVICEFILE, else ~/.pg_service.conf. */
export const serviceFilePath = (env: NodeJS.ProcessEnv = process.env) =>
  path.resolve(env.PGSERVICEFILE || path.join(os.homedir(), '.pg_service.conf'));

export function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/**
 * Replaces `file` with `content`, mode 0600: a temporary file beside it, fsync, rename. A symbolic
 * link (dotfile managers) is followed, so the link stays and its target is updated.
 */
export function writePrivateFile(file: string, content: string): void {
  let target = file;
  try {
    if (lstatSync(file).isSymbolicLink()) target = realpathSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.fdwg-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    chmodSync(tmp, 0o600);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface WrittenFiles {
  pgpass: { path: string; action: EditResult['action'] };
  service: { path: string; action: EditResult['action'] };
}

/** Writes the password line and the `[fdwg]` section; returns where and what changed. */
export function writeConnectionFiles(t: PgTarget, password: string, serviceName = 'fdwg', env = process.env): WrittenFiles {
  const passFile = pgpassPath(env);
  const svcFile = serviceFilePath(env);
  const pass = upsertPgpass(readIfExists(passFile), t, password);
  writePrivateFile(passFile, pass.content);
  const svc = upsertService(readIfExists(svcFile), serviceName, serviceParams(t));
  writePrivateFile(svcFile, svc.content);
  return { pgpass: { path: passFile, action: pass.action }, service: { path: svcFile, action: svc.action } };
}
