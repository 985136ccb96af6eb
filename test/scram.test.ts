import { execFile } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { generatePassword } from '../src/provisioner/password.js';
import { saslprepLite, scramSha256Verifier } from '../src/provisioner/scram.js';
import { adminUrl, uniqueSuffix, urlFor, withClient } from './support/pg.js';

const VERIFIER_RE = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]{43}=):([A-Za-z0-9+/]{43}=)$/;

/** Independent reference built on node:crypto, to cross-check the Web Crypto implementation. */
function referenceVerifier(password: string, salt: Uint8Array, iterations: number): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

describe('scramSha256Verifier (offline)', () => {
  test('known answer: RFC 7677 parameters (password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096)', async () => {
    const salt = Uint8Array.from(atob('W22ZaJ0SNY7soEsUEjb6gQ=='), (c) => c.charCodeAt(0));
    expect(await scramSha256Verifier('pencil', { salt, iterations: 4096 })).toBe(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$' +
        'WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });

  test('matches a node:crypto reference for arbitrary ASCII passwords, salts and iteration counts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary-ascii', maxLength: 80 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 64 }),
        async (password, salt, iterations) => {
          expect(await scramSha256Verifier(password, { salt, iterations })).toBe(
            referenceVerifier(password, salt, iterations),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test('non-ASCII passwords are hashed after SASLprep mapping + NFKC (what PostgreSQL and the clients do)', async () => {
    const salt = new Uint8Array(16).fill(7);
    const v = (p: string) => scramSha256Verifier(p, { salt, iterations: 16 });
    // Fullwidth letters fold to ASCII, soft hyphen disappears, NBSP becomes a space, é composes.
    expect(await v('ｆｕｌｌ')).toBe(await v('full'));
    expect(await v('pa\u00ADss')).toBe(await v('pass'));
    expect(await v('a\u00A0b')).toBe(await v('a b'));
    expect(await v('e\u0301')).toBe(await v('\u00E9'));
    expect(await v('pässwörd')).toBe(referenceVerifier('pässwörd'.normalize('NFKC'), salt, 16));
    expect(saslprepLite('pässwörd-ｆｕｌｌ')).toBe('pässwörd-full');
  });

  test('default: 4096 iterations and a fresh random 16-byte salt on every call', async () => {
    const a = await scramSha256Verifier('same password');
    const b = await scramSha256Verifier('same password');
    const ma = VERIFIER_RE.exec(a);
    const mb = VERIFIER_RE.exec(b);
    expect(ma?.[1]).toBe('4096');
    expect(atob(ma![2]!)).toHaveLength(16);
    expect(ma![2]).not.toBe(mb![2]);
    expect(ma![3]).not.toBe(mb![3]);
  });

  test('rejects nonsense iteration counts and empty salts', async () => {
    await expect(scramSha256Verifier('x', { iterations: 0 })).rejects.toThrow(RangeError);
    await expect(scramSha256Verifier('x', { iterations: 1.5 })).rejects.toThrow(RangeError);
    await expect(scramSha256Verifier('x', { salt: new Uint8Array(0) })).rejects.toThrow(RangeError);
  });
});

describe('generatePassword', () => {
  test('256 bits, base64url without padding, never repeats', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const p = generatePassword();
      expect(p).toMatch(/^[A-Za-z0-9_-]{43}$/); // 43 chars = ceil(32 bytes * 8 / 6)
      seen.add(p);
    }
    expect(seen.size).toBe(1000);
  });
});

describe('scramSha256Verifier against real PostgreSQL', () => {
  const created: string[] = [];

  /** Creates a LOGIN role from a verifier; the plaintext never appears in SQL (or the server log). */
  async function createRole(verifier: string): Promise<string> {
    const role = `scram_t_${uniqueSuffix()}`;
    await withClient(adminUrl(), async (c) => {
      await c.query(`CREATE ROLE ${c.escapeIdentifier(role)} LOGIN PASSWORD ${c.escapeLiteral(verifier)}`);
      // The gate's bootstrap revokes CONNECT on other databases from PUBLIC; this login needs one.
      await c.query(`GRANT CONNECT ON DATABASE postgres TO ${c.escapeIdentifier(role)}`);
    });
    created.push(role);
    return role;
  }

  const login = (role: string, password: string) =>
    withClient(urlFor('postgres', role, password), async (c) => (await c.query('SELECT current_user AS u')).rows[0].u);

  afterAll(async () => {
    await withClient(adminUrl(), async (c) => {
      for (const role of created) await c.query(`DROP OWNED BY ${c.escapeIdentifier(role)}; DROP ROLE IF EXISTS ${c.escapeIdentifier(role)}`);
    });
  });

  test('PostgreSQL stores the verifier verbatim and accepts the plaintext; wrong password fails', async () => {
    const password = generatePassword();
    const verifier = await scramSha256Verifier(password);
    expect(verifier).toMatch(VERIFIER_RE);
    const role = await createRole(verifier);

    const stored = await withClient(adminUrl(), async (c) =>
      (await c.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0].rolpassword,
    );
    expect(stored).toBe(verifier);
    // node-postgres also checks the server signature, so a successful login proves StoredKey AND ServerKey.
    expect(await login(role, password)).toBe(role);
    await expect(login(role, `${password}x`)).rejects.toThrow(/password authentication failed/);
  });

  test('fixed salt and a non-default iteration count log in too', async () => {
    const password = 'fixed-salt password';
    const verifier = await scramSha256Verifier(password, { salt: new Uint8Array(16).fill(42), iterations: 1000 });
    expect(verifier.startsWith('SCRAM-SHA-256$1000:KioqKioqKioqKioqKioqKg==$')).toBe(true);
    const role = await createRole(verifier);
    expect(await login(role, password)).toBe(role);
    await expect(login(role, 'fixed-salt Password')).rejects.toThrow(/password authentication failed/);
  });

  test('a non-ASCII password logs in, both as typed and in its normalised form', async () => {
    const password = 'pässwörd-ｆｕｌｌ';
    const role = await createRole(await scramSha256Verifier(password));
    expect(await login(role, password)).toBe(role);
    expect(await login(role, 'pässwörd-full')).toBe(role);
    await expect(login(role, 'passwort-full')).rejects.toThrow(/password authentication failed/);
  });

  // libpq (psql) has PostgreSQL's own full SASLprep, so this is the reference client-side check.
  test('psql (libpq) logs in with a non-ASCII password', async () => {
    if (!existsSync('/usr/bin/psql')) throw new Error('psql is missing: install postgresql-client (.ci/run does)');
    const password = 'Grüße\u00A0ｗｅｌｔ-ﬁ';
    const role = await createRole(await scramSha256Verifier(password));
    const u = new URL(adminUrl());
    const { stdout } = await promisify(execFile)(
      '/usr/bin/psql',
      ['-X', '-At', '-h', u.hostname, '-p', u.port, '-U', role, '-d', 'postgres', '-c', 'SELECT current_user'],
      { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' } },
    );
    expect(stdout.trim()).toBe(role);
  });
});
