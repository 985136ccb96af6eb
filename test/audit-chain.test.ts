// The access log's hash chain: appends stay linear under concurrency, verification finds an edited
// row (hash) and a deleted row (link) exactly, the fast canonicalisation paths agree with chain.ts,
// and `npm run audit:verify` reports the same with exit codes 0/1/2.
import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ChainedFields, GENESIS_HASH, canonicalJson, canonicalRowText } from '../src/audit/chain.js';
import { storedRowHash } from './support/audit.js';
import { appendAudit, appendAuditMany } from '../src/audit/log.js';
import { RowEncoder, canonicalJsonText, rowFromCopyLine } from '../src/audit/chain-encoder.js';
import { builtinSha256HexBytes, verifyChain, webCryptoSha256Hex, webCryptoSha256HexBytes } from '../src/audit/verify.js';
import { controlDb, createPool } from '../src/db/client.js';
import { nodeSha256Hex, nodeSha256HexBytes } from '../src/audit/verify-node.js';
import { prepareDatabases, urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { adminUrl, uniqueSuffix } from './support/pg.js';

const run = promisify(execFile);

// ------------------------------------------------------------------------------------------------
// Pure: the fast paths produce exactly chain.ts's canonical text

/** jsonb's text form: keys ordered by length then bytes, ", " and ": " separators. */
function jsonbText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
  if (v && typeof v === 'object') {
    const utf8 = (s: string) => Buffer.from(s);
    const keys = Object.keys(v).sort((a, b) => utf8(a).length - utf8(b).length || Buffer.compare(utf8(a), utf8(b)));
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((v as Record<string, unknown>)[k])}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

/** COPY's text-format escaping of one value. */
const copyEscape = (s: string) =>
  s.replace(/[\\\b\f\n\r\t\v]/g, (c) => ({ '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' })[c]!);

/** How PostgreSQL prints a timestamptz (TimeZone UTC, DateStyle ISO). */
const pgAt = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)}${iso.slice(19, 23).replace(/\.?0+$/, '')}+00`;

function copyLine(id: number, f: ChainedFields, hash: string): string {
  const opt = (s: string | null) => (s === null ? '\\N' : copyEscape(s));
  return [
    String(id),
    pgAt(f.at),
    copyEscape(f.actor),
    opt(f.subject),
    copyEscape(f.action),
    f.requestId === null ? '\\N' : String(f.requestId),
    opt(f.dataset),
    copyEscape(jsonbText(f.details)),
    copyEscape(f.prevHash),
    copyEscape(hash),
  ].join('\t');
}

// Text as PostgreSQL can hold it: well-formed, no NUL; plus the characters that need care.
const nasty = fc.constantFrom('"', '\\', '\\N', 'N', '\n', '\t', '\r', '\b', '\u0001', '\u001f', '\u007f', '\u2028', 'é', '😀', '\uffff', ' ', ',', ':', '{', '[');
const pgText = fc
  .array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), nasty), { maxLength: 5 })
  .map((parts) => parts.join('').replace(/\u0000/g, ''));
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const jsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).map((v) => JSON.parse(JSON.stringify(v).replace(/\\u0000/g, '')) as unknown);
const fields = fc.record({
  at: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  actor: fc.oneof(fc.constantFrom('alice', 'system:sweeper', 'fdwg_alice'), pgText),
  subject: fc.option(fc.oneof(fc.constant('alice'), pgText)),
  action: fc.constantFrom('login', 'pii.read', 'credential.issued'),
  requestId: fc.option(fc.integer({ min: -2147483648, max: 2147483647 })),
  dataset: fc.option(fc.oneof(fc.constant('pii.users'), pgText)),
  details: fc.oneof(
    fc.constant({}),
    fc.record({ role: fc.constant('fdwg_alice'), ttlSeconds: fc.nat(), expiresAt: fc.constant('2026-01-01T00:00:00.000Z'), credentialId: fc.nat() }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), pgText), jsonValue, { maxKeys: 6 }),
    jsonValue,
  ),
  prevHash: fc.oneof(hex64, fc.constant(GENESIS_HASH)),
});

describe('canonical text without the generic path', () => {
  test('canonicalJsonText(jsonb text) equals canonicalJson(JSON.parse(text)), for any JSON', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const expected = canonicalJson(v);
        expect(canonicalJsonText(jsonbText(v))).toBe(expected);
        expect(canonicalJsonText(JSON.stringify(v))).toBe(expected);
        expect(canonicalJsonText(JSON.stringify(v, null, 2))).toBe(expected);
      }),
      { numRuns: 500 },
    );
    for (const text of ['{"a": 1, "a": 2}', '{"b": 1e21, "a": -0, "c": 1.50, "d": 0.1, "e": 12345678901234567890}', '"\\u0041\\/"', '[1, 2 ']) {
      let expected: string;
      try {
        expected = canonicalJson(JSON.parse(text));
      } catch {
        expected = text;
      }
      expect(canonicalJsonText(text)).toBe(expected);
    }
  });

  test('a COPY line gives canonicalRowText on both the byte path and the string path', () => {
    const enc = new RowEncoder();
    let viaBytes = 0;
    fc.assert(
      fc.property(fields, hex64, fc.integer({ min: 1, max: 2 ** 40 }), (f, hash, id) => {
        const expected = canonicalRowText(f);
        const line = copyLine(id, f, hash);
        const row = rowFromCopyLine(line);
        expect(row.text).toBe(expected);
        expect([row.id, row.prevHash, row.hash]).toEqual([String(id), f.prevHash, hash]);
        const bytes = Buffer.from(`${line}\n`);
        if (enc.encode(bytes, 0, bytes.length - 1)) {
          viaBytes++;
          expect(Buffer.from(enc.out.subarray(0, enc.len)).toString()).toBe(expected);
          expect(enc.id(bytes)).toBe(id);
          expect(enc.latin1(bytes, 8)).toBe(f.prevHash);
          expect(enc.latin1(bytes, 9)).toBe(hash);
        }
      }),
      { numRuns: 1000 },
    );
    expect(viaBytes).toBeGreaterThan(50); // the fast path is actually taken
  });

  test('the hashers agree', async () => {
    for (const text of ['', 'abc', '["é","😀"]', 'x'.repeat(1000)]) {
      const expected = nodeSha256Hex(text);
      expect(await webCryptoSha256Hex(text)).toBe(expected);
      expect(nodeSha256HexBytes(Buffer.from(text))).toBe(expected);
      expect(builtinSha256HexBytes()?.(Buffer.from(text))).toBe(expected);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Against PostgreSQL

let controlUrl: string;
let controlAdminUrl: string;
let gatePool: pg.Pool;
let admin: pg.Client;

beforeAll(async () => {
  const suffix = uniqueSuffix();
  const controlDatabase = `chain_control_${suffix}`;
  ({ controlUrl } = await prepareDatabases({
    superuserUrl: adminUrl(),
    controlDatabase,
    warehouseDatabase: `chain_warehouse_${suffix}`,
    prefix: `c${suffix}_`,
    gatePassword: `gate-${uniqueSuffix()}-${uniqueSuffix()}`,
    policy: loadPolicy(path.resolve('policies')),
  }));
  controlAdminUrl = urlWith(adminUrl(), controlDatabase);
  gatePool = createPool(controlUrl, 10);
  admin = new pg.Client({ connectionString: controlAdminUrl });
  await admin.connect();
  // Superuser tampering: replica mode skips the append-only triggers for this session only.
  await admin.query(`SET session_replication_role = replica`);
});

afterAll(async () => {
  await admin?.end();
  await gatePool?.end();
});

const fast = { sha256HexBytes: nodeSha256HexBytes };
/** Web Crypto: one promise per row (the asynchronous path). */
const web = { sha256HexBytes: webCryptoSha256HexBytes };

interface Stored {
  id: number;
  actor: string;
  hash: string;
  prev_hash: string;
}
const allRows = async () => (await admin.query<Stored>('SELECT id::int, actor, hash, prev_hash FROM audit_events ORDER BY id')).rows;

/** What a row's hash should be, recomputed independently through chain.ts. */
async function recomputed(id: number): Promise<string> {
  const { rows } = await admin.query(
    `SELECT at, actor, subject, action, request_id, dataset, details, prev_hash FROM audit_events WHERE id = $1`,
    [id],
  );
  return storedRowHash(rows[0]);
}

/** Deletes rows (as superuser), runs `fn`, and puts the rows back exactly as they were. */
async function withoutRows<T>(ids: number[], fn: () => Promise<T>): Promise<T> {
  const saved = (await admin.query('SELECT * FROM audit_events WHERE id = ANY($1) ORDER BY id', [ids])).rows as Array<Record<string, unknown>>;
  await admin.query('DELETE FROM audit_events WHERE id = ANY($1)', [ids]);
  try {
    return await fn();
  } finally {
    for (const row of saved) {
      const cols = Object.keys(row);
      await admin.query(
        `INSERT INTO audit_events (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        cols.map((c) => (c === 'details' ? JSON.stringify(row[c]) : row[c])),
      );
    }
  }
}

const withoutRow = <T>(id: number, fn: () => Promise<T>) => withoutRows([id], fn);

/** Runs fn with the newest `n` events removed: a cut tail. */
async function withoutTail<T>(n: number, fn: () => Promise<T>): Promise<T> {
  const { rows } = await admin.query<{ id: string }>('SELECT id FROM audit_events ORDER BY id DESC LIMIT $1', [n]);
  return withoutRows(rows.map((r) => Number(r.id)), fn);
}

async function cli(env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'src/node/audit-verify.ts'], {
      env: { ...process.env, CONTROL_DATABASE_URL: '', DATABASE_URL: '', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe.sequential('verifyChain against PostgreSQL', () => {
  test('an empty log verifies', async () => {
    for (const opts of [fast, web, {}]) {
      const s = await verifyChain(gatePool, opts);
      expect(s).toMatchObject({ ok: true, checked: 0, headId: null, headHash: null });
      expect(s.firstBroken).toBeUndefined();
    }
  });

  test('concurrent appends (10 connections x 30, some in batches) keep one linear chain', async () => {
    const db = controlDb(gatePool);
    const nastyDetails = {
      b: 1,
      a: [2, { y: 1, x: 'two' }],
      é: 'é',
      Z: null,
      '10': 'ten',
      '9': 'nine',
      '': 'empty key',
      nested: { deep: { z: false, a: true } },
      numbers: [0.1, -5, 1e21, 1e-7, 123456789012345680000, 2 ** 53, -0.5, 1.5e300],
      text: 'quote " backslash \\ newline \n tab \t ctrl \u0001 \u001f del \u007f u2028 \u2028 emoji 😀',
      keys: { ä: 1, a: 2, '😀': 3, '\uffff': 4, 'a"b': 5, 'a\\b': 6 },
    };
    const event = (w: number, i: number) => ({
      action: i % 3 === 0 ? ('login' as const) : ('credential.issued' as const),
      actor: i % 7 === 0 ? `weird "actor" \\ ${w}\t😀` : `analyst${w}`,
      subject: i % 5 === 0 ? null : `analyst${w}`,
      requestId: i % 4 === 0 ? null : w * 1000 + i,
      dataset: i % 6 === 0 ? 'pii.users' : null,
      details: i % 10 === 0 ? nastyDetails : { credentialId: i, role: `fdwg_analyst${w}`, ttlSeconds: 3600 },
    });
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        // Eight writers append one event per transaction, two append five at a time (the sweeper's way).
        if (w >= 8) {
          for (let i = 0; i < 30; i += 5) {
            const ids = await db.transaction((tx) => appendAuditMany(tx, [0, 1, 2, 3, 4].map((k) => event(w, i + k))));
            expect(ids).toEqual([...ids].sort((a, b) => a - b));
          }
          return;
        }
        for (let i = 0; i < 30; i++) await db.transaction((tx) => appendAudit(tx, event(w, i)));
      }),
    );
    const rows = await allRows();
    expect(rows).toHaveLength(300);
    // Linear: each row links to the one before it in id order, starting from the genesis hash.
    rows.forEach((r, i) => expect(r.prev_hash).toBe(i === 0 ? GENESIS_HASH : rows[i - 1]!.hash));
    const ats = (await admin.query<{ ok: boolean }>(`SELECT bool_and(at >= prev_at) AS ok FROM (SELECT at, lag(at, 1, at) OVER (ORDER BY id) AS prev_at FROM audit_events) x`)).rows[0]!;
    expect(ats.ok).toBe(true);

    for (const opts of [fast, { ...fast, batchSize: 7 }, {}, web, { ...web, batchSize: 13 }, { sha256Hex: nodeSha256Hex }, { sha256Hex: webCryptoSha256Hex }]) {
      const s = await verifyChain(gatePool, opts);
      expect(s).toMatchObject({ ok: true, checked: 300, headId: rows[299]!.id, headHash: rows[299]!.hash });
    }
    // Every stored hash is what chain.ts computes.
    for (const r of rows.filter((_, i) => i % 10 === 0)) expect(await recomputed(r.id)).toBe(r.hash);
  });

  test('an UPDATE (as superuser, triggers bypassed) is reported at that row: reason hash', async () => {
    const rows = await allRows();
    const target = rows[137]!;
    await admin.query(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, [target.id]);
    try {
      const expected = await recomputed(target.id);
      expect(expected).not.toBe(target.hash);
      for (const opts of [fast, { ...fast, batchSize: 50 }, web, { ...web, batchSize: 50 }]) {
        const s = await verifyChain(gatePool, opts);
        expect(s).toMatchObject({
          ok: false,
          checked: 138,
          headId: rows[136]!.id,
          headHash: rows[136]!.hash,
          firstBroken: { id: target.id, reason: 'hash', expected, found: target.hash },
        });
      }
    } finally {
      await admin.query(`UPDATE audit_events SET actor = $2 WHERE id = $1`, [target.id, target.actor]);
    }
    expect((await verifyChain(gatePool, fast)).ok).toBe(true);
  });

  test('an edit of only the sub-millisecond part of `at` is reported too', async () => {
    const id = (await allRows())[42]!.id;
    await admin.query(`UPDATE audit_events SET at = at + interval '1 microsecond' WHERE id = $1`, [id]);
    try {
      for (const opts of [fast, web]) expect((await verifyChain(gatePool, opts)).firstBroken).toMatchObject({ id, reason: 'hash' });
    } finally {
      await admin.query(`UPDATE audit_events SET at = at - interval '1 microsecond' WHERE id = $1`, [id]);
    }
    expect((await verifyChain(gatePool, fast)).ok).toBe(true);
  });

  test('an UPDATE that also rewrites the row hash is reported at the next row: reason link', async () => {
    const rows = await allRows();
    const target = rows[200]!;
    await admin.query(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, [target.id]);
    const forged = await recomputed(target.id);
    await admin.query(`UPDATE audit_events SET hash = $2 WHERE id = $1`, [target.id, forged]);
    try {
      const s = await verifyChain(gatePool, fast);
      expect(s.firstBroken).toEqual({ id: rows[201]!.id, reason: 'link', expected: forged, found: target.hash });
    } finally {
      await admin.query(`UPDATE audit_events SET actor = $2, hash = $3 WHERE id = $1`, [target.id, target.actor, target.hash]);
    }
  });

  test('a DELETE of a middle row is reported at the next row: reason link', async () => {
    const rows = await allRows();
    const victim = rows[150]!;
    await withoutRow(victim.id, async () => {
      for (const opts of [fast, { ...fast, batchSize: 10 }, web, { ...web, batchSize: 10 }]) {
        const s = await verifyChain(gatePool, opts);
        expect(s).toMatchObject({
          ok: false,
          checked: 151, // 150 intact rows and the broken one
          headId: rows[149]!.id,
          firstBroken: { id: rows[151]!.id, reason: 'link', expected: rows[149]!.hash, found: victim.hash },
        });
      }
    });
    expect((await verifyChain(gatePool, fast)).ok).toBe(true);
  });

  test('deleting the first row is reported at the new first row (it does not link to genesis)', async () => {
    const rows = await allRows();
    await withoutRow(rows[0]!.id, async () => {
      const s = await verifyChain(gatePool, fast);
      expect(s).toMatchObject({
        ok: false,
        checked: 1,
        headId: null,
        headHash: null,
        firstBroken: { id: rows[1]!.id, reason: 'link', expected: GENESIS_HASH, found: rows[0]!.hash },
      });
    });
    expect((await verifyChain(gatePool, fast)).ok).toBe(true);
  });

  test('npm run audit:verify: exit 0 with the head on an intact chain, 1 with the broken row, 2 without a database', { timeout: 120_000 }, async () => {
    const rows = await allRows();
    const head = rows[rows.length - 1]!;
    const intact = await cli({ CONTROL_DATABASE_URL: controlUrl });
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toContain(`chain intact: ${rows.length} events, head ${head.id} ${head.hash}`);

    await withoutRow(rows[99]!.id, async () => {
      const broken = await cli({ CONTROL_DATABASE_URL: controlUrl });
      expect(broken.code, broken.stderr).toBe(1);
      expect(broken.stdout).toContain(`chain BROKEN at event ${rows[100]!.id}: expected ${rows[98]!.hash} found ${rows[99]!.hash} (link)`);
    });

    const original = (await admin.query<{ action: string }>('SELECT action FROM audit_events WHERE id = $1', [rows[10]!.id])).rows[0]!.action;
    await admin.query(`UPDATE audit_events SET action = 'logout' WHERE id = $1`, [rows[10]!.id]);
    try {
      const edited = await cli({ CONTROL_DATABASE_URL: controlUrl });
      expect(edited.code).toBe(1);
      expect(edited.stdout).toMatch(new RegExp(`chain BROKEN at event ${rows[10]!.id}: expected [0-9a-f]{64} found ${rows[10]!.hash} \\(hash\\)`));
    } finally {
      await admin.query(`UPDATE audit_events SET action = $2 WHERE id = $1`, [rows[10]!.id, original]);
    }

    const unreachable = await cli({ CONTROL_DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none' });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot connect/);
  });
});

describe.sequential('anchors: a signed head shows that the tail was cut', () => {
  test('HS256 and EdDSA anchors verify, and a removed tail is reported although the shorter chain is intact', async () => {
    const { signAnchor, readAnchor, checkAnchor } = await import('../src/audit/anchor.js');
    const { generateKeyPair } = await import('jose');
    const secret = new TextEncoder().encode(`anchor-secret-${uniqueSuffix()}-${uniqueSuffix()}`);
    const ed = await generateKeyPair('Ed25519');
    const status = await verifyChain(gatePool, fast);
    expect(status.ok).toBe(true);
    const rows = await allRows();

    for (const [sign, verify] of [
      [secret, secret],
      [ed.privateKey, ed.publicKey],
    ] as const) {
      const jwt = await signAnchor(status, sign);
      const anchor = await readAnchor(jwt, verify);
      expect(anchor).toMatchObject({ headId: status.headId, headHash: status.headHash, events: status.checked });
      expect(await checkAnchor(gatePool, anchor, status)).toEqual({ ok: true, anchor });
      // Tampered or signed with another key: not an anchor.
      const [h, p, sig] = jwt.split('.');
      const forged = JSON.parse(Buffer.from(p!, 'base64url').toString());
      forged.headId = 1;
      await expect(readAnchor(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`, verify)).rejects.toThrow();
      await expect(readAnchor(jwt, sign === secret ? new TextEncoder().encode('another secret, long enough to be a key') : (await generateKeyPair('Ed25519')).publicKey)).rejects.toThrow();
    }

    // Cut the last three events (as superuser): what remains verifies, the anchor does not.
    const anchor = await readAnchor(await signAnchor(status, secret), secret);
    await withoutTail(3, async () => {
      const shorter = await verifyChain(gatePool, fast);
      expect(shorter).toMatchObject({ ok: true, checked: rows.length - 3, headId: rows.at(-4)!.id });
      expect(await checkAnchor(gatePool, anchor, shorter)).toMatchObject({ ok: false, reason: 'missing' });
    });
    // An edited anchored head, and a break before it.
    await admin.query(`UPDATE audit_events SET hash = $2 WHERE id = $1`, [anchor.headId, 'f'.repeat(64)]);
    try {
      expect(await checkAnchor(gatePool, anchor, await verifyChain(gatePool, fast))).toMatchObject({ ok: false, reason: 'changed' });
    } finally {
      await admin.query(`UPDATE audit_events SET hash = $2 WHERE id = $1`, [anchor.headId, anchor.headHash]);
    }
    await withoutRow(rows[5]!.id, async () => {
      expect(await checkAnchor(gatePool, anchor, await verifyChain(gatePool, fast))).toMatchObject({ ok: false, reason: 'broken' });
    });
    expect(await checkAnchor(gatePool, anchor, await verifyChain(gatePool, fast))).toMatchObject({ ok: true });
    await expect(signAnchor({ ...status, ok: false }, secret)).rejects.toThrow(/broken/);
  });

  test('the gate keeps anchors in a file; npm run audit:verify reports a cut tail that the chain alone cannot show', { timeout: 120_000 }, async () => {
    const { appendAnchor } = await import('../src/node/anchoring.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'anchors-'));
    const file = path.join(dir, 'anchors.jsonl');
    const secret = `anchor-secret-${uniqueSuffix()}-${uniqueSuffix()}-${uniqueSuffix()}`;
    const env = { CONTROL_DATABASE_URL: controlUrl, AUDIT_ANCHOR_FILE: file, AUDIT_ANCHOR_SECRET: secret };
    try {
      const none = await cli(env);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stdout).toContain('anchors: none yet');

      const first = await appendAnchor(gatePool, file, new TextEncoder().encode(secret));
      expect(first.anchored).toBe(true);
      // Later events do not disturb an older anchor.
      await controlDb(gatePool).transaction((tx) => appendAudit(tx, { action: 'login', actor: 'zed', subject: 'zed' }));
      const second = await appendAnchor(gatePool, file, new TextEncoder().encode(secret));
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
      const ok = await cli(env);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`anchors ok: 2 in ${file}, newest head ${second.status.headId}`);

      await withoutTail(1, async () => {
        const cut = await cli(env);
        expect(cut.stdout).toMatch(/chain intact/);
        expect(cut.code).toBe(1);
        expect(cut.stdout).toContain(`anchors FAILED: event ${second.status.headId}, the head anchored at`);
      });

      // A line signed with another key (or edited) means the anchor file itself was tampered with.
      appendFileSync(file, `${readFileSync(file, 'utf8').trim().split('\n')[0]!.slice(0, -4)}AAAA\n`);
      const forged = await cli(env);
      expect(forged.code).toBe(1);
      expect(forged.stdout).toContain('line 3 of');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.sequential('time filters (auditWhere bounds id by time)', () => {
  test('a time range finds exactly the events whose `at` is in it, also when `at` runs backwards a little', async () => {
    // Superuser inserts with `at` out of id order by up to 40 minutes (within AT_SKEW_MS); the chain
    // does not matter here (this runs after the chain tests).
    const base = Date.parse('2030-03-01T12:00:00.000Z');
    const offsets = [0, 10, -30, 20, 5, -10, 40, 0, 35, 60, 25, 90, 50, 120].map((m) => m * 60_000);
    for (const [i, off] of offsets.entries()) {
      await admin.query(
        `INSERT INTO audit_events (at, actor, action, details, prev_hash, hash) VALUES ($1, 'skew', 'login', '{}', $2, $2)`,
        [new Date(base + off).toISOString(), String(i).padStart(64, '0')],
      );
    }
    const { auditWhere } = await import('../src/audit/filters.js');
    const { auditEvents } = await import('../src/db/schema.js');
    const { and, eq, asc } = await import('drizzle-orm');
    const db = controlDb(gatePool);
    const minutes = [-40, -30, -11, -10, 0, 1, 5, 20, 21, 39, 40, 59, 60, 89, 90, 121];
    for (const a of minutes) {
      for (const b of minutes.filter((m) => m >= a)) {
        const from = new Date(base + a * 60_000);
        const to = new Date(base + b * 60_000);
        const got = await db
          .select({ id: auditEvents.id })
          .from(auditEvents)
          .where(and(auditWhere({ from, to }), eq(auditEvents.actor, 'skew')))
          .orderBy(asc(auditEvents.id));
        const want = await admin.query<{ id: string }>(`SELECT id FROM audit_events WHERE actor = 'skew' AND at >= $1 AND at <= $2 ORDER BY id`, [
          from.toISOString(),
          to.toISOString(),
        ]);
        expect(got.map((r) => r.id), `${a}..${b} min`).toEqual(want.rows.map((r) => Number(r.id)));
        const onlyFrom = await db.select({ id: auditEvents.id }).from(auditEvents).where(and(auditWhere({ from }), eq(auditEvents.actor, 'skew')));
        const wantFrom = await admin.query(`SELECT id FROM audit_events WHERE actor = 'skew' AND at >= $1`, [from.toISOString()]);
        expect(onlyFrom.length).toBe(wantFrom.rowCount);
      }
    }
  });
});
