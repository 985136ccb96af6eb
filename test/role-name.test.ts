import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { analystRoleName, isSafeIdentifier } from '../src/provisioner/role-name.js';
import { adminUrl, uniqueSuffix, withClient } from './support/pg.js';

const P = 'fdwg';
const LONG_PREFIX = 'abcdefghijklmnop'; // 16 chars, the maximum: stresses the 63-byte budget
const ROLE_RE = /^[a-z_][a-z0-9_]*$/;

function checkShape(prefix: string, role: string): void {
  expect(role.startsWith(prefix.endsWith('_') ? prefix : `${prefix}_`)).toBe(true);
  expect(role).toMatch(ROLE_RE);
  expect(new TextEncoder().encode(role).length).toBeLessThanOrEqual(63);
  expect(isSafeIdentifier(role)).toBe(true);
}

const ADVERSARIAL = [
  'alice',
  'ALICE',
  'Alice',
  'alice_',
  '_alice',
  'al__ice',
  'al_ice',
  'al ice',
  'alice ',
  ' alice',
  'al"ice',
  "al'ice",
  'al;ice',
  'ali\u0000ce',
  "Robert'); DROP ROLE x;--",
  'Robert"); DROP ROLE x;--',
  '"; DROP TABLE analysts; --',
  'pässwörd',
  'pa\u0308sswo\u0308rd', // same text, decomposed: a different username, so a different role
  'ｆｕｌｌ',
  'full',
  '😀',
  '😀😀',
  '👩‍👩‍👧‍👦',
  'İstanbul',
  'ß',
  'ss',
  'Ｋ', // fullwidth K
  '\u212A', // Kelvin sign, lowercases to k
  'k',
  'pg_signal_backend',
  'public',
  'none',
  'user',
  'current_user',
  'a'.repeat(46),
  'a'.repeat(47),
  'a'.repeat(200),
  `${'a'.repeat(199)}b`,
  `${'b'.repeat(199)}ä`,
  'x'.repeat(63),
  'alice__47oo4pgghulqxicj', // the remainder of ALICE's role, fed back as a username
  'alice_47oo4pgghulqxicj',
];

describe('analystRoleName: examples', () => {
  test('clean usernames are kept readable, everything else gets a hash suffix', async () => {
    expect(await analystRoleName(P, 'alice')).toBe('fdwg_alice');
    // A prefix that already ends in '_' (the configured default `fdwg_`) gives the same names.
    expect(await analystRoleName(`${P}_`, 'alice')).toBe('fdwg_alice');
    expect(await analystRoleName(`${P}_`, 'ALICE')).toBe(await analystRoleName(P, 'ALICE'));
    expect(await analystRoleName(P, 'a1_b2')).toBe('fdwg_a1_b2');
    expect(await analystRoleName(P, '42')).toBe('fdwg_42');
    expect(await analystRoleName(P, 'a'.repeat(46))).toBe(`fdwg_${'a'.repeat(46)}`);
    // Pinned values: the mapping is a persistent contract (changing it orphans every existing role).
    // Hashes cross-checked with Python: base64.b32encode(sha256(u.encode()).digest()[:10]).lower().
    expect(await analystRoleName(P, 'ALICE')).toBe('fdwg_alice__47oo4pgghulqxicj');
    expect(await analystRoleName(P, 'alice_')).toBe('fdwg_alice__emidfd3ojz6q46ou');
    expect(await analystRoleName(P, "Robert'); DROP ROLE x;--")).toBe('fdwg_robert_drop_role_x__wsroon5ngn4mq4td');
    expect(await analystRoleName(P, 'pässwörd-ｆｕｌｌ')).toBe('fdwg_password_full__dttjijevprawgelj');
    expect(await analystRoleName(P, '😀')).toBe('fdwg___6bcdunbml32upa5b');
    expect(await analystRoleName(P, 'user@example.org')).toBe('fdwg_user_example_org__2fm66yso3btjpnhr');
    expect(await analystRoleName(P, 'a'.repeat(200))).toBe(`fdwg_${'a'.repeat(28)}__ykuqrwmplx4yplpe`);
  });

  test('adversarial usernames: valid, distinct, deterministic, for short and maximal prefixes', async () => {
    for (const prefix of [P, 'a', LONG_PREFIX, 'x_']) {
      const roles = new Map<string, string>();
      for (const u of ADVERSARIAL) {
        const role = await analystRoleName(prefix, u);
        checkShape(prefix, role);
        expect(await analystRoleName(prefix, u)).toBe(role);
        expect(roles.get(role), `${JSON.stringify(u)} collides`).toBeUndefined();
        roles.set(role, u);
      }
    }
  });

  test('rejects bad prefixes, empty usernames and unpaired surrogates', async () => {
    for (const bad of ['', 'A', '1a', '_a', 'a-b', 'a'.repeat(17), 'pg', 'pg_x', 'fdwg"', 'é']) {
      await expect(analystRoleName(bad, 'alice'), bad).rejects.toThrow(RangeError);
    }
    expect(await analystRoleName('pgx', 'alice')).toBe('pgx_alice');
    await expect(analystRoleName(P, '')).rejects.toThrow(TypeError);
    // TextEncoder would turn each of these into U+FFFD, so they must not be hashed.
    for (const bad of ['\uD800', 'a\uDC00', '\uDE00\uD83D']) {
      await expect(analystRoleName(P, bad)).rejects.toThrow(TypeError);
    }
  });

  test('isSafeIdentifier', () => {
    for (const ok of ['a', '_a', 'fdwg_alice', 'a1_', 'x'.repeat(63), 'pgx']) expect(isSafeIdentifier(ok), ok).toBe(true);
    for (const bad of ['', 'A', '1a', 'a-b', 'a b', 'a"b', 'é', 'x'.repeat(64), 'pg_x', 'public', 'none']) {
      expect(isSafeIdentifier(bad), bad).toBe(false);
    }
  });
});

describe('analystRoleName: properties', () => {
  const anyUsername = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }), // full Unicode, incl. astral planes
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 200 }),
    fc.string({ unit: fc.constantFrom('a', 'b', 'A', '_', ' ', '"', "'", ';', '-', 'ä', 'a\u0308'), minLength: 1, maxLength: 60 }),
    fc.stringMatching(/^[a-z0-9_]{1,60}$/),
  );

  test('every result is a safe identifier of at most 63 bytes, deterministic', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(P, 'a', LONG_PREFIX, 'z9_'), anyUsername, async (prefix, u) => {
        const role = await analystRoleName(prefix, u);
        checkShape(prefix, role);
        expect(await analystRoleName(prefix, u)).toBe(role);
      }),
      { numRuns: 2000 },
    );
  });

  test('no two different usernames share a role (20,000+ names incl. near-duplicates)', async () => {
    const bases = [...ADVERSARIAL, ...fc.sample(anyUsername, { numRuns: 4000, seed: 42 })];
    const names = new Set<string>(bases);
    for (const b of bases.slice(0, 3000)) {
      // Near-duplicates that sanitise to the same readable part or differ only after truncation.
      for (const v of [b.toUpperCase(), b.toLowerCase(), `${b}_`, `_${b}`, `${b} `, `${b}"`, `${b}'`, b.normalize('NFD')]) {
        if (v.length > 0) names.add(v);
      }
    }
    // Outputs fed back in as usernames: a hashed role's remainder must not map onto that role.
    for (const u of [...names].slice(0, 3000)) {
      const role = await analystRoleName(LONG_PREFIX, u);
      names.add(role.slice(LONG_PREFIX.length + 1));
      names.add(role);
    }
    expect(names.size).toBeGreaterThanOrEqual(20_000);

    const byRole = new Map<string, string>();
    for (const u of names) {
      const role = await analystRoleName(LONG_PREFIX, u);
      const other = byRole.get(role);
      if (other !== undefined) throw new Error(`collision: ${JSON.stringify(other)} and ${JSON.stringify(u)} -> ${role}`);
      byRole.set(role, u);
    }
    expect(byRole.size).toBe(names.size);
  });
});

describe('analystRoleName against real PostgreSQL', () => {
  test('adversarial usernames become roles with exactly the computed names', async () => {
    // Roles are cluster-wide: a unique 16-char prefix keeps parallel runs apart and uses the full budget.
    const prefix = `rn${uniqueSuffix()}pad_xx`;
    expect(prefix).toHaveLength(16);
    const roles = await Promise.all(ADVERSARIAL.map((u) => analystRoleName(prefix, u)));
    expect(new Set(roles).size).toBe(ADVERSARIAL.length);

    await withClient(adminUrl(), async (c) => {
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      try {
        for (const role of roles) await c.query(`CREATE ROLE ${c.escapeIdentifier(role)} NOLOGIN`);
        const { rows } = await c.query<{ rolname: string }>(
          'SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname',
          [`${prefix}\\_%`],
        );
        expect(rows.map((r) => r.rolname)).toEqual([...roles].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        // Lower case and unquoted: PostgreSQL's own folding leaves the name unchanged.
        for (const role of roles.slice(0, 5)) {
          const r = await c.query(`SELECT ${c.escapeLiteral(role)}::regrole::text = $1 AS same`, [role]);
          expect(r.rows[0].same).toBe(true);
        }
        expect(notices.filter((m) => /truncat/i.test(m))).toEqual([]);
      } finally {
        for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier(role)}`);
      }
    });
  });
});
