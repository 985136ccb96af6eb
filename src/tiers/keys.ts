// Pseudonym keys, one per period, kept OUTSIDE the warehouse and the control database.
//
// Why a random key per period in a file (mode 0600) on the loader's host, rather than keys derived
// from one master secret: a derived key is only as unlinkable as the master is secret (whoever
// holds it recomputes every period), and it can never be forgotten. Independent random keys mean
// one period's key reveals nothing about another's, and destroying a retired period's key
// (`tiers rotate --retire`) makes that period's pseudonyms irreversible for good. The gate itself
// never needs the keys (only the loader does), so they are not sealed into the control database
// either: fewer places, fewer readers.
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type Rotation = 'none' | 'yearly' | 'quarterly';

/** The period a `timestamp without time zone` (text, `YYYY-MM-DD ...`, UTC) belongs to. */
export function periodOf(rotation: Rotation, timestamp: string): string {
  if (rotation === 'none') return 'all';
  const year = timestamp.slice(0, 4);
  if (rotation === 'yearly') return year;
  return `${year}-Q${Math.floor((Number(timestamp.slice(5, 7)) - 1) / 3) + 1}`;
}

export interface KeySource {
  /** The key of `period`; a key source may create it (and say so through onCreated). */
  keyFor(period: string): string;
}

/** One key for everything (the demo: rotation none, its key from `.data/secrets.json`). */
export const singleKey = (key: string): KeySource => {
  if (key.length === 0) throw new Error('pseudonym key must not be empty');
  return { keyFor: () => key };
};

interface KeyFileDoc {
  version: 1;
  keys: Record<string, { key: string; created: string }>;
  retired: Record<string, string>;
}

/** A JSON file `{ keys: { <period>: { key, created } }, retired: { <period>: <when> } }`, 0600. */
export class KeyFile implements KeySource {
  private doc: KeyFileDoc;

  constructor(
    readonly file: string,
    private readonly onCreated: (period: string) => void = () => {},
  ) {
    this.doc = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as KeyFileDoc)
      : { version: 1, keys: {}, retired: {} };
    this.doc.retired ??= {};
  }

  has(period: string): boolean {
    return period in this.doc.keys;
  }

  periods(): string[] {
    return Object.keys(this.doc.keys).sort();
  }

  keyFor(period: string): string {
    if (period in this.doc.retired) throw new Error(`the key of period ${period} was retired: its pseudonyms can no longer be made`);
    const existing = this.doc.keys[period];
    if (existing) return existing.key;
    this.create(period);
    this.onCreated(period);
    return this.doc.keys[period]!.key;
  }

  /** Makes the key of `period` if it has none; false when it already existed. */
  create(period: string): boolean {
    if (this.has(period)) return false;
    if (period in this.doc.retired) throw new Error(`period ${period} was retired`);
    this.doc.keys[period] = { key: randomBytes(32).toString('base64url'), created: new Date().toISOString() };
    this.save();
    return true;
  }

  /** Destroys the key of `period`: its pseudonyms stay, but nobody can make them again. */
  retire(period: string): boolean {
    if (!this.has(period)) return false;
    delete this.doc.keys[period];
    this.doc.retired[period] = new Date().toISOString();
    this.save();
    return true;
  }

  private save(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    // Write-then-rename: a crash never leaves a half-written key file (and lost keys).
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.doc, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

const PREFIX = 'u_';
const HEX_DIGITS = 16;

/**
 * Username -> pseudonym for the period of each message, cached. Same value as the demo's
 * pseudonymFor (`u_` + 16 hex digits of HMAC-SHA256(key, username)), computed synchronously
 * with node:crypto because the loader calls it for every username of every message.
 */
export class Pseudonymizer {
  private readonly cache = new Map<string, Map<string, string>>();
  private readonly ids = new Map<string, number>();

  constructor(
    readonly rotation: Rotation,
    private readonly keys: KeySource,
  ) {}

  period(timestamp: string): string {
    return periodOf(this.rotation, timestamp);
  }

  pseudonym(period: string, username: string): string {
    let m = this.cache.get(period);
    if (!m) {
      m = new Map();
      this.cache.set(period, m);
    }
    let p = m.get(username);
    if (p === undefined) {
      const mac = createHmac('sha256', this.keys.keyFor(period)).update(username).digest('hex');
      p = PREFIX + mac.slice(0, HEX_DIGITS);
      m.set(username, p);
    }
    return p;
  }

  /**
   * The pseudonymized tier's user id. Without rotation it is Datanommer's own id; with rotation
   * an id shared across periods would link the periods' pseudonyms, so each (user, period) gets
   * its own: 52 bits of HMAC(period key, "id:" + username) (a collision among 100,000 accounts:
   * about 1 in 900,000; it would fail loudly on the primary key).
   */
  userId(period: string, username: string, sourceId: number): number {
    if (this.rotation === 'none') return sourceId;
    const cached = this.ids.get(`${period}\0${username}`);
    if (cached !== undefined) return cached;
    const mac = createHmac('sha256', this.keys.keyFor(period)).update(`id:${username}`).digest();
    const id = mac.readUIntBE(0, 6) % 2 ** 52 || 1;
    this.ids.set(`${period}\0${username}`, id);
    return id;
  }
}
