// Reading `psql \COPY <table> TO <file>` output: PostgreSQL's text format (tab-separated, `\N`
// for NULL, backslash escapes), one row per line, optionally gzip-compressed (`.gz`).
import { createReadStream, existsSync } from 'node:fs';
import readline from 'node:readline';
import { createGunzip } from 'node:zlib';

const SIMPLE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

export function decodeField(f: string): string | null {
  if (f === '\\N') return null;
  if (!f.includes('\\')) return f;
  let out = '';
  for (let i = 0; i < f.length; i++) {
    const ch = f[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const n = f[++i];
    if (n === undefined) break;
    if (SIMPLE[n] !== undefined) out += SIMPLE[n];
    else if (n === 'x' && /[0-9a-fA-F]/.test(f[i + 1] ?? '')) {
      const m = /^[0-9a-fA-F]{1,2}/.exec(f.slice(i + 1))![0];
      out += String.fromCharCode(parseInt(m, 16));
      i += m.length;
    } else if (n >= '0' && n <= '7') {
      const m = /^[0-7]{1,3}/.exec(f.slice(i))![0];
      out += String.fromCharCode(parseInt(m, 8));
      i += m.length - 1;
    } else out += n;
  }
  return out;
}

export const decodeLine = (line: string) => line.split('\t').map(decodeField);

/** The file of `table` in `dir`: `<table>.copy` or `<table>.copy.gz`; null when neither exists. */
export function copyFile(dir: string, table: string): string | null {
  for (const name of [`${table}.copy`, `${table}.copy.gz`]) {
    const f = `${dir}/${name}`;
    if (existsSync(f)) return f;
  }
  return null;
}

function lines(file: string): readline.Interface {
  const raw = createReadStream(file);
  return readline.createInterface({ input: file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw, crlfDelay: Infinity });
}

/** Rows of a file, `size` at a time; `\.` (an end marker some tools write) ends it. */
export async function* readCopy(file: string, size: number): AsyncGenerator<(string | null)[][]> {
  let batch: (string | null)[][] = [];
  for await (const line of lines(file)) {
    if (line === '\\.') break;
    if (line === '') continue;
    batch.push(decodeLine(line));
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * The rows `readCopy` yields, counted on raw bytes (a day's file is hundreds of megabytes; split
 * into strings it cost seconds). A data line never holds a raw CR or LF (COPY escapes them), so
 * a row is a line with something besides CR in it, up to a `\.` line.
 */
export async function countRows(file: string): Promise<number> {
  const raw = createReadStream(file);
  const input: AsyncIterable<Buffer> = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const [LF, CR, BACKSLASH, DOT] = [10, 13, 92, 46];
  let n = 0;
  let line: number[] = []; // the first bytes of the current line (at most 3), CRs left out
  const endLine = () => {
    const ended = line.length === 2 && line[0] === BACKSLASH && line[1] === DOT;
    if (!ended && line.length > 0) n++;
    line = [];
    return ended;
  };
  for await (const chunk of input) {
    let i = 0;
    while (i < chunk.length) {
      const lf = chunk.indexOf(LF, i);
      const stop = lf === -1 ? chunk.length : lf;
      for (let j = i; j < stop && line.length < 3; j++) if (chunk[j] !== CR) line.push(chunk[j]!);
      if (lf === -1) break;
      if (endLine()) {
        raw.destroy();
        return n;
      }
      i = lf + 1;
    }
  }
  endLine();
  return n;
}
