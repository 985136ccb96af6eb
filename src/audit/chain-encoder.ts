// The access log's canonical row text (chain.ts) built from PostgreSQL's COPY text output, what
// the chain walk (verify.ts) reads: one line per row of COPY_COLUMNS, TimeZone UTC, DateStyle ISO.
// Runtime-agnostic (no node: imports).
//
// Two paths give the same text. The fast one (RowEncoder) builds it as UTF-8 bytes straight from
// the line's bytes, `details` re-canonicalised from jsonb's text without JSON.parse. Rows with
// anything unusual in them (escapes, non-ASCII keys, non-integer numbers) take the string path
// (rowFromCopyLine, canonicalJsonText). test/audit-chain.test.ts checks both against
// canonicalRowText for any row; test/audit-canonical.test.ts pins them to fixed bytes.
import { canonicalJson, canonicalRowLayout } from './chain.js';

// ------------------------------------------------------------------------------------------------
// Canonical JSON straight from JSON text

class Fallback extends Error {}
const FALLBACK = new Fallback('fallback');
const SIMPLE_NUMBER = /^(0|[1-9]\d{0,14})$/;
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * canonicalJson(JSON.parse(text)), computed by one scan of the text: keys re-sorted, whitespace
 * dropped, numbers in JavaScript's form, strings kept as they are when they already are what
 * JSON.stringify would write (always, for jsonb's output) and normalised otherwise. Anything
 * unusual (duplicate keys, invalid JSON) takes the slow path, so the result is the same for every
 * input; for text that is not JSON at all it returns the text, which no writer's form can equal.
 */
export function canonicalJsonText(text: string): string {
  if (text === '{}') return '{}';
  try {
    const scan = new Scanner(text);
    const out = scan.value();
    scan.ws();
    if (scan.i !== text.length) throw FALLBACK;
    return out;
  } catch (err) {
    if (!(err instanceof Fallback)) throw err;
    try {
      return canonicalJson(JSON.parse(text));
    } catch {
      return text;
    }
  }
}

class Scanner {
  i = 0;
  constructor(private readonly s: string) {}

  ws(): void {
    const s = this.s;
    let c = s.charCodeAt(this.i);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = s.charCodeAt(++this.i);
  }

  value(): string {
    this.ws();
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 34 /* " */) return this.string().out;
    if (c === 123 /* { */) return this.object();
    if (c === 91 /* [ */) return this.array();
    if (c === 116 /* t */ && s.startsWith('true', this.i)) return (this.i += 4), 'true';
    if (c === 102 /* f */ && s.startsWith('false', this.i)) return (this.i += 5), 'false';
    if (c === 110 /* n */ && s.startsWith('null', this.i)) return (this.i += 4), 'null';
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) return this.number();
    throw FALLBACK;
  }

  /** A string token: `out` is JSON.stringify(decoded), `key` the decoded value (for sorting). */
  string(): { out: string; key: string } {
    const s = this.s;
    const start = this.i;
    let i = start + 1;
    let plain = true;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (Number.isNaN(c) || c < 0x20) throw FALLBACK;
      if (c === 92 /* \ */) {
        plain = false;
        i += 2;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) plain = false; // JSON.stringify escapes lone surrogates
      i++;
    }
    this.i = i + 1;
    const raw = s.slice(start, i + 1);
    if (plain) return { out: raw, key: raw.slice(1, -1) };
    const key = JSON.parse(raw) as string;
    return { out: JSON.stringify(key), key };
  }

  number(): string {
    const s = this.s;
    const start = this.i;
    let i = start;
    for (;;) {
      const c = s.charCodeAt(i);
      // digits, - + . e E
      if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69) i++;
      else break;
    }
    this.i = i;
    const tok = s.slice(start, i);
    if (SIMPLE_NUMBER.test(tok)) return tok;
    if (!JSON_NUMBER.test(tok)) throw FALLBACK;
    return JSON.stringify(Number(tok));
  }

  array(): string {
    const s = this.s;
    this.i++;
    this.ws();
    if (s.charCodeAt(this.i) === 93 /* ] */) return this.i++, '[]';
    let out = '[';
    for (;;) {
      out += this.value();
      this.ws();
      const c = s.charCodeAt(this.i++);
      if (c === 44 /* , */) out += ',';
      else if (c === 93) return `${out}]`;
      else throw FALLBACK;
    }
  }

  object(): string {
    const s = this.s;
    this.i++;
    this.ws();
    if (s.charCodeAt(this.i) === 125 /* } */) return this.i++, '{}';
    const pairs: Array<{ key: string; part: string }> = [];
    let sorted = true;
    for (;;) {
      this.ws();
      if (s.charCodeAt(this.i) !== 34) throw FALLBACK;
      const k = this.string();
      this.ws();
      if (s.charCodeAt(this.i++) !== 58 /* : */) throw FALLBACK;
      const last = pairs[pairs.length - 1];
      if (last && !(last.key < k.key)) sorted = false;
      pairs.push({ key: k.key, part: `${k.out}:${this.value()}` });
      this.ws();
      const c = s.charCodeAt(this.i++);
      if (c === 125) break;
      if (c !== 44) throw FALLBACK;
    }
    if (!sorted) {
      // UTF-16 code unit order, as canonicalJson's `<`; a duplicate key goes the slow way
      // (JSON.parse keeps the last one).
      pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (let j = 1; j < pairs.length; j++) if (pairs[j - 1]!.key === pairs[j]!.key) throw FALLBACK;
    }
    let out = '{';
    for (let j = 0; j < pairs.length; j++) out += (j > 0 ? ',' : '') + pairs[j]!.part;
    return `${out}}`;
  }
}

// ------------------------------------------------------------------------------------------------
// COPY text lines -> canonical row text

/** The columns of audit_events, in the order every line given to this module has them. */
export const COPY_COLUMNS = 'id, at, actor, subject, action, request_id, dataset, details, prev_hash, hash';
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const jsonString = (s: string) => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** One field of a COPY text line: `\N` is NULL, other backslash sequences are escapes. */
export function copyField(f: string): string | null {
  if (f.indexOf('\\') === -1) return f;
  if (f === '\\N') return null;
  return f.replace(/\\(.)/gs, (_, c: string) =>
    c === 'b' ? '\b' : c === 'f' ? '\f' : c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === 'v' ? '\v' : c,
  );
}

/**
 * The writer hashes `new Date().toISOString()`; PostgreSQL prints the stored value (TimeZone UTC,
 * DateStyle ISO) as `YYYY-MM-DD HH:MI:SS[.ffffff]+00` without trailing zeros. A value with more
 * than millisecond precision (or in any other shape) cannot come from the writer: it is returned
 * unchanged, which no ISO string equals, so its hash mismatches.
 */
function isoAt(v: string): string {
  const n = v.length;
  if (n < 22 || n > 26 || v.charCodeAt(10) !== 32 || !v.endsWith('+00')) return v;
  if (n === 22) return `${v.slice(0, 10)}T${v.slice(11, 19)}.000Z`;
  if (v.charCodeAt(19) !== 46 /* . */) return v;
  return `${v.slice(0, 10)}T${v.slice(11, 19)}.${v.slice(20, n - 3).padEnd(3, '0')}Z`;
}

interface Row {
  id: string;
  text: string;
  prevHash: string;
  hash: string;
}

/** Parses one COPY line of COPY_COLUMNS into the id, the canonical text and the stored hashes. */
export function rowFromCopyLine(line: string): Row {
  const f = line.split('\t');
  if (f.length !== 10) throw new Error(`unexpected COPY line with ${f.length} fields`);
  const id = f[0]!;
  const at = isoAt(f[1]!);
  const requestId = f[5] === '\\N' ? 'null' : f[5]!; // an integer's text is its JSON number
  const details = copyField(f[7]!);
  const prevHash = copyField(f[8]!);
  const hash = copyField(f[9]!);
  // NULL is JSON null everywhere, also in the NOT NULL columns: a writer never hashed null there,
  // so a NULL that got in (constraint dropped) mismatches instead of passing for ''.
  const str = (k: number) => {
    const v = copyField(f[k]!);
    return v === null ? 'null' : jsonString(v);
  };
  const text = canonicalRowLayout({
    at: jsonString(at),
    actor: str(2),
    subject: str(3),
    action: str(4),
    requestId,
    dataset: str(6),
    details: details === null ? 'null' : canonicalJsonText(details),
    prevHash: prevHash === null ? 'null' : jsonString(prevHash),
  });
  return { id, text, prevHash: prevHash ?? '\\N', hash: hash ?? '\\N' };
}

// ------------------------------------------------------------------------------------------------
// COPY line bytes -> canonical row bytes (the fast path)

const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
const textDecoder = new TextDecoder();
const TAB = 9;
const QUOTE = 34;
const BACKSLASH = 92;

/** UTF-8 text of bytes[start, end) (Node's Buffer decodes without a copy; elsewhere TextDecoder). */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  return NodeBuffer?.isBuffer(bytes) ? bytes.toString('utf8', start, end) : textDecoder.decode(bytes.subarray(start, end));
}

/** The integer at bytes[start...] up to the first non-digit (a COPY line's id). */
export function leadingInteger(b: Uint8Array, start: number): number {
  const neg = b[start] === 45;
  let v = 0;
  for (let i = neg ? start + 1 : start; b[i]! >= 48 && b[i]! <= 57; i++) v = v * 10 + (b[i]! - 48);
  return neg ? -v : v;
}

/**
 * Builds the canonical row text as UTF-8 bytes straight from a COPY line's bytes, for the rows
 * that need no unescaping (all of them, in practice): no backslash except `\N`, no quote or
 * control character outside details, ASCII-only object keys, integers only. Returns false for any
 * other row, which then takes the string path (rowFromCopyLine); both give the same text. It writes
 * canonicalRowLayout's layout itself, byte by byte.
 */
export class RowEncoder {
  out = new Uint8Array(2048);
  len = 0;
  /** Start of each of the 10 fields; field k ends (exclusive) at fs[k + 1] - 1. */
  readonly fs = new Int32Array(11);
  private b: Uint8Array = this.out;
  private p = 0;
  /** Pair positions of the objects being canonicalised (a stack: nested objects use later slots). */
  private pairStart = new Int32Array(64);
  private pairEnd = new Int32Array(64);
  private pairs = 0;

  encode(b: Uint8Array, start: number, end: number): boolean {
    const fs = this.fs;
    this.pairs = 0;
    // Fields 0..6 (id .. dataset): find the tabs, note quotes, backslashes and control characters.
    let field = 0;
    let special = 0; // bit k: field k has a quote, a backslash or a control character
    fs[0] = start;
    let i = start;
    for (; i < end; i++) {
      const c = b[i]!;
      if (c === TAB) {
        fs[++field] = i + 1;
        if (field === 7) break;
      } else if (c === QUOTE || c === BACKSLASH || c < 0x20) special |= 1 << field;
    }
    if (field !== 7) return false;
    // Only the nullable fields may hold one, and only as the whole field `\N`.
    if (special !== 0) {
      if (special & ~((1 << 3) | (1 << 5) | (1 << 6))) return false;
      if (special & (1 << 3) && !this.isNull(b, 3)) return false;
      if (special & (1 << 5) && !this.isNull(b, 5)) return false;
      if (special & (1 << 6) && !this.isNull(b, 6)) return false;
    }
    // Fields 8 and 9 (prev_hash, hash): 64 characters each at the end. They are compared, not
    // scanned: COPY escapes every tab inside a value, so these positions are the last two fields.
    fs[8] = end - 129;
    fs[9] = end - 64;
    fs[10] = end + 1;
    if (fs[8]! - 1 < fs[7]! || b[end - 130] !== TAB || b[end - 65] !== TAB) return false;

    // The row text is never much longer than the line; objects need as much again to reorder keys.
    if (this.out.length < (end - start) * 2 + 64) this.out = new Uint8Array((end - start) * 2 + 64);
    let o = this.out;
    let n = 0;
    // at: YYYY-MM-DD HH:MI:SS[.f{1,3}]+00 -> "YYYY-MM-DDTHH:MI:SS.fffZ"
    const a = fs[1]!;
    const an = fs[2]! - 1 - a;
    if (an < 22 || an > 26 || an === 23 || b[a + 10] !== 32 || b[a + an - 3] !== 43 || b[a + an - 2] !== 48 || b[a + an - 1] !== 48) {
      return false;
    }
    if (an > 22 && b[a + 19] !== 46) return false;
    o[n++] = 91; // [
    o[n++] = QUOTE;
    for (let j = a; j < a + 10; j++) o[n++] = b[j]!;
    o[n++] = 84; // T
    for (let j = a + 11; j < a + 19; j++) o[n++] = b[j]!;
    o[n++] = 46; // .
    const frac = an > 22 ? an - 23 : 0;
    for (let j = 0; j < 3; j++) o[n++] = j < frac ? b[a + 20 + j]! : 48;
    o[n++] = 90; // Z
    o[n++] = QUOTE;
    o[n++] = 44;
    n = this.str(b, 2, n, false);
    n = this.str(b, 3, n, true);
    n = this.str(b, 4, n, false);
    // request_id: an integer's text is its JSON number
    if (this.isNull(b, 5)) n = this.nul(n);
    else {
      for (let j = fs[5]!, e = fs[6]! - 1; j < e; j++) {
        const c = b[j]!;
        if (!((c >= 48 && c <= 57) || c === 45)) return false;
        o[n++] = c;
      }
      o[n++] = 44;
    }
    n = this.str(b, 6, n, true);
    // details, up to the tab before prev_hash
    this.b = b;
    this.p = fs[7]!;
    this.len = n;
    if (!this.value() || (this.ws(), this.p !== fs[8]! - 1)) return false;
    n = this.len;
    o = this.out; // may have grown
    o[n++] = 44;
    o[n++] = QUOTE;
    for (let j = fs[8]!, e = j + 64; j < e; j++) o[n++] = b[j]!;
    o[n++] = QUOTE;
    o[n++] = 93; // ]
    this.len = n;
    return true;
  }

  /** Field k is `\N`. */
  isNull(b: Uint8Array, k: number): boolean {
    const s = this.fs[k]!;
    return this.fs[k + 1]! - 1 - s === 2 && b[s] === BACKSLASH && b[s + 1] === 78;
  }

  /** Field k as Latin-1 (the hashes: hex, so one byte per character; anything else mismatches anyway). */
  latin1(b: Uint8Array, k: number): string {
    const s = this.fs[k]!;
    const e = this.fs[k + 1]! - 1;
    return NodeBuffer?.isBuffer(b) ? b.toString('latin1', s, e) : String.fromCharCode(...b.subarray(s, e));
  }

  /** The integer in field 0 (the id). */
  id(b: Uint8Array): number {
    return leadingInteger(b, this.fs[0]!);
  }

  private nul(n: number): number {
    const o = this.out;
    o[n++] = 110;
    o[n++] = 117;
    o[n++] = 108;
    o[n++] = 108;
    o[n++] = 44;
    return n;
  }

  private str(b: Uint8Array, k: number, n: number, nullable: boolean): number {
    if (nullable && this.isNull(b, k)) return this.nul(n);
    const o = this.out;
    o[n++] = QUOTE;
    for (let i = this.fs[k]!, e = this.fs[k + 1]! - 1; i < e; i++) o[n++] = b[i]!;
    o[n++] = QUOTE;
    o[n++] = 44;
    return n;
  }

  // -- details: jsonb text (no backslashes here) to canonical JSON ----------------------------------

  private ws(): void {
    while (this.b[this.p] === 32) this.p++;
  }

  private value(): boolean {
    this.ws();
    const c = this.b[this.p];
    if (c === QUOTE) return this.string(false);
    if (c === 123) return this.object();
    if (c === 91) return this.array();
    if (c === 116) return this.literal('true');
    if (c === 102) return this.literal('false');
    if (c === 110) return this.literal('null');
    if (c === 45 || (c !== undefined && c >= 48 && c <= 57)) return this.number();
    return false;
  }

  private literal(word: string): boolean {
    const b = this.b;
    for (let i = 0; i < word.length; i++) if (b[this.p + i] !== word.charCodeAt(i)) return false;
    for (let i = 0; i < word.length; i++) this.out[this.len++] = word.charCodeAt(i);
    this.p += word.length;
    return true;
  }

  /** A string without escapes (guaranteed by the caller), copied as is; keys must be ASCII. */
  private string(key: boolean): boolean {
    const b = this.b;
    const o = this.out;
    let i = this.p + 1;
    o[this.len++] = QUOTE;
    for (;;) {
      const c = b[i];
      if (c === undefined || c < 0x20 || c === BACKSLASH) return false;
      if (c === QUOTE) break;
      if (key && c >= 0x80) return false;
      o[this.len++] = c;
      i++;
    }
    o[this.len++] = QUOTE;
    this.p = i + 1;
    return true;
  }

  /** Integers of up to 15 digits are already in JavaScript's form; anything else goes the string way. */
  private number(): boolean {
    const b = this.b;
    const o = this.out;
    let i = this.p;
    if (b[i] === 45) o[this.len++] = b[i++]!;
    const first = i;
    while (b[i]! >= 48 && b[i]! <= 57) o[this.len++] = b[i++]!;
    const digits = i - first;
    const c = b[i];
    if (digits === 0 || digits > 15 || c === 46 || c === 101 || c === 69) return false;
    if (b[first] === 48 && (digits > 1 || b[this.p] === 45)) return false; // leading zero, -0
    this.p = i;
    return true;
  }

  private array(): boolean {
    const b = this.b;
    this.p++;
    this.out[this.len++] = 91;
    this.ws();
    if (b[this.p] === 93) {
      this.p++;
      this.out[this.len++] = 93;
      return true;
    }
    for (;;) {
      if (!this.value()) return false;
      this.ws();
      const c = b[this.p++];
      if (c === 93) {
        this.out[this.len++] = 93;
        return true;
      }
      if (c !== 44) return false;
      this.out[this.len++] = 44;
    }
  }

  private object(): boolean {
    const b = this.b;
    this.p++;
    this.ws();
    const objStart = this.len;
    this.out[this.len++] = 123;
    if (b[this.p] === 125) {
      this.p++;
      this.out[this.len++] = 125;
      return true;
    }
    // Each pair is written as `"key":value` followed by a comma; pairs are then put in key order.
    const first = this.pairs;
    let count = 0;
    let sorted = true;
    for (;;) {
      this.ws();
      if (b[this.p] !== QUOTE) return false;
      const pairStart = this.len;
      if (!this.string(true)) return false;
      if (count > 0 && this.compareKeys(this.pairStart[first + count - 1]!, pairStart) >= 0) sorted = false;
      this.ensurePairs(first + count + 1);
      this.pairStart[first + count] = pairStart;
      this.pairs = first + count + 1; // nested objects use the slots after ours
      this.ws();
      if (b[this.p++] !== 58) return false;
      this.out[this.len++] = 58;
      if (!this.value()) return false;
      this.pairEnd[first + count] = this.len;
      count++;
      this.ws();
      const c = b[this.p++];
      if (c === 125) break;
      if (c !== 44) return false;
      this.out[this.len++] = 44;
    }
    this.pairs = first;
    if (!sorted) {
      // Insertion sort of the (few) pairs by key, then the pairs are rewritten in that order.
      const ps = this.pairStart;
      const pe = this.pairEnd;
      for (let j = first + 1; j < first + count; j++) {
        const s = ps[j]!;
        const e = pe[j]!;
        let k = j - 1;
        for (; k >= first; k--) {
          const cmp = this.compareKeys(ps[k]!, s);
          if (cmp === 0) return false; // duplicate key: JSON.parse keeps the last one; go the slow way
          if (cmp < 0) break;
          ps[k + 1] = ps[k]!;
          pe[k + 1] = pe[k]!;
        }
        ps[k + 1] = s;
        pe[k + 1] = e;
      }
      // Move the pairs past the end (one native copy), then back in key order (one per pair).
      const o = this.out;
      const from = objStart + 1;
      const size = this.len - from;
      if (o.length < this.len + size) {
        const bigger = new Uint8Array(2 * (this.len + size));
        bigger.set(o);
        this.out = bigger;
      }
      const out = this.out;
      const scratch = this.len;
      out.copyWithin(scratch, from, this.len);
      let at = from;
      for (let j = first; j < first + count; j++) {
        if (j > first) out[at++] = 44;
        out.copyWithin(at, ps[j]! - from + scratch, pe[j]! - from + scratch);
        at += pe[j]! - ps[j]!;
      }
    }
    this.out[this.len++] = 125;
    return true;
  }

  private ensurePairs(n: number): void {
    if (n <= this.pairStart.length) return;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(Math.max(n, a.length * 2));
      b.set(a);
      return b;
    };
    this.pairStart = grow(this.pairStart);
    this.pairEnd = grow(this.pairEnd);
  }

  /** Compares the (ASCII, escape-free) keys of two pairs written at `x` and `y`. */
  private compareKeys(x: number, y: number): number {
    const o = this.out;
    for (let i = 1; ; i++) {
      const a = o[x + i]!;
      const c = o[y + i]!;
      if (a === c) {
        if (a === QUOTE) return 0;
        continue;
      }
      if (a === QUOTE) return -1;
      if (c === QUOTE) return 1;
      return a - c;
    }
  }
}
