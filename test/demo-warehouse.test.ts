// The demo warehouse: a Datanommer-shaped source, its pseudonymized copy and the split-off
// personal data, loaded into a real PostgreSQL; plus unit tests of the pure pieces.
import { createHmac } from 'node:crypto';
import type pg from 'pg';
import { beforeAll, describe, expect, test } from 'vitest';
import { Prng } from '../src/demo/prng.js';
import { pseudonymFor, pseudonymTable } from '../src/demo/pseudonym.js';
import type { SourceMessage } from '../src/demo/types.js';
import { loadPolicy } from '../src/policy/load.js';
import { compileRules, JSONB_MAX_BYTES, rewriteMessage, type Rewritten } from '../src/tiers/rewrite.js';
import { demoWarehouseLoaded, loadDemoWarehouse, type DemoWarehouseSummary } from '../src/demo/warehouse.js';
import { createDatabase, urlFor, withClient } from './support/pg.js';

const KEY = 'demo-test-key';
const SEED = 20240101;
const N = 3_000;
const DEMO_USERS = ['alice', 'bob', 'carol', 'mallory'];
const PSEUDO_TABLES = ['messages', 'users', 'packages', 'users_messages', 'packages_messages'];
const policy = loadPolicy('policies');

/** Each load sends a few MB of parameters; keep them out of the shared, statement-logging server log. */
async function quietLoad(c: pg.Client, seed: number, key: string, onProgress?: (d: number, t: number) => void) {
  await c.query(`SET log_statement = 'none'`);
  return loadDemoWarehouse(c, { messages: N, seed, pseudonymKey: key, policy, onProgress });
}

async function scalar<T>(c: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await c.query(sql, params);
  return Object.values(rows[0] as object)[0] as T;
}

/** md5 over every row of a table, in primary-key order: equal digests = byte-identical tables. */
const digest = (c: pg.Client, table: string, order: string) =>
  scalar<string>(c, `SELECT md5(string_agg(t::text, E'\\n' ORDER BY ${order})) FROM ${table} t`);

describe('loaded demo warehouse', () => {
  let url: string;
  let summary: DemoWarehouseSummary;
  const progress: Array<[number, number]> = [];
  const q = <T>(sql: string, params: unknown[] = []) => withClient(url, (c) => scalar<T>(c, sql, params));

  beforeAll(async () => {
    url = urlFor(await createDatabase('demo'));
    await withClient(url, async (c) => {
      expect(await demoWarehouseLoaded(c)).toBe(false);
      summary = await quietLoad(c, SEED, KEY, (d, t) => progress.push([d, t]));
    });
  });

  test('summary, progress and the loaded flag', async () => {
    expect(summary).toMatchObject({ messages: N, users: 500, quarantined: 0 });
    expect(summary.packages).toBeGreaterThan(150);
    expect(progress.at(-1)).toEqual([N, N]);
    expect(await withClient(url, demoWarehouseLoaded)).toBe(true);
  });

  test('row counts agree across the tiers', async () => {
    await withClient(url, async (c) => {
      for (const t of PSEUDO_TABLES) {
        const source = await scalar<number>(c, `SELECT count(*)::int FROM datanommer.${t}`);
        const pseudo = await scalar<number>(c, `SELECT count(*)::int FROM pseudonymized.${t}`);
        expect(pseudo, t).toBe(source);
        expect(source, t).toBeGreaterThan(0);
      }
      expect(await scalar(c, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(N);
      expect(await scalar(c, 'SELECT count(*)::int FROM pii.users')).toBe(500);
      expect(await scalar(c, 'SELECT count(DISTINCT pseudonym)::int FROM pseudonymized.users')).toBe(500);
      // Each message names at least one user, except automated anitya version checks.
      expect(await scalar(c, 'SELECT count(DISTINCT msg_id)::int FROM pseudonymized.users_messages')).toBeGreaterThan(N * 0.8);
    });
  });

  test('category is the 4th part of the topic; all categories and ids/timestamps in order', async () => {
    await withClient(url, async (c) => {
      for (const s of ['datanommer', 'pseudonymized']) {
        expect(await scalar(c, `SELECT count(*)::int FROM ${s}.messages WHERE category <> split_part(topic, '.', 4)`)).toBe(0);
      }
      const { rows } = await c.query('SELECT DISTINCT category FROM pseudonymized.messages ORDER BY 1');
      expect(rows.map((r) => r.category)).toEqual(['anitya', 'bodhi', 'buildsys', 'discourse', 'fas', 'git', 'wiki']);
      const range = await c.query(
        `SELECT min("timestamp") >= '2024-01-01' AND max("timestamp") < '2026-01-01' AS in_range,
                bool_and(ordered) AS ordered
         FROM (SELECT "timestamp", "timestamp" >= lag("timestamp", 1, '-infinity') OVER (ORDER BY id) AS ordered
               FROM pseudonymized.messages) m`,
      );
      expect(range.rows[0]).toEqual({ in_range: true, ordered: true });
    });
  });

  test('demo users are present, with pseudonyms = pseudonymFor(key, name)', async () => {
    const { rows } = await withClient(url, (c) =>
      c.query('SELECT username, pseudonym, email FROM pii.users WHERE username = ANY($1) ORDER BY username', [DEMO_USERS]),
    );
    expect(rows).toEqual(
      await Promise.all(
        DEMO_USERS.map(async (u) => ({ username: u, pseudonym: await pseudonymFor(KEY, u), email: `${u}@fedoraproject.org` })),
      ),
    );
    // ... and they act on the bus, so an analyst can find their messages.
    expect(
      await q<number>(
        `SELECT count(DISTINCT agent_pseudonym)::int FROM pseudonymized.messages
         WHERE agent_pseudonym IN (SELECT pseudonym FROM pii.users WHERE username = ANY($1))`,
        [DEMO_USERS],
      ),
    ).toBe(4);
  });

  test('no username (as a token), no e-mail and no author name anywhere in the pseudonymized tier', async () => {
    await withClient(url, async (c) => {
      for (const t of PSEUDO_TABLES) {
        // Whole rows as text (msg::text, headers::text and every text column), split into
        // alphanumeric tokens: "fedora_messaging_user_alice" and "User:Alice" both yield "alice".
        const leaked = await c.query(
          `SELECT DISTINCT tok FROM pseudonymized.${t} r, regexp_split_to_table(lower(r::text), '[^a-z0-9]+') tok
           WHERE tok IN (SELECT username FROM pii.users)`,
        );
        expect(leaked.rows, t).toEqual([]);
        expect(await scalar(c, `SELECT count(*)::int FROM pseudonymized.${t} r WHERE strpos(r::text, '@') > 0`), t).toBe(0);
      }
      // Real names (git and Discourse authors), as whole strings. MATERIALIZED: render each row once.
      const namesIn = (table: string) =>
        scalar<number>(
          c,
          `WITH r AS MATERIALIZED (SELECT t::text AS txt FROM ${table} t),
                a AS (SELECT DISTINCT author_name FROM pii.message_text WHERE author_name IS NOT NULL)
           SELECT count(*)::int FROM r JOIN a ON strpos(r.txt, a.author_name) > 0`,
        );
      expect(await namesIn('pseudonymized.messages')).toBe(0);
      // The same checks find plenty in the raw source: they are not vacuous.
      expect(await namesIn('datanommer.messages')).toBeGreaterThan(100);
      expect(
        await scalar(
          c,
          `SELECT count(DISTINCT tok)::int FROM datanommer.messages r, regexp_split_to_table(lower(r::text), '[^a-z0-9]+') tok
           WHERE tok IN (SELECT username FROM pii.users)`,
        ),
      ).toBeGreaterThan(100);
      expect(await scalar(c, `SELECT count(*)::int FROM datanommer.messages r WHERE strpos(r::text, '@') > 0`)).toBeGreaterThan(0);
    });
  });

  test('free text is removed from pseudonymized and kept in pii.message_text', async () => {
    await withClient(url, async (c) => {
      const freeText = `
        (category = 'bodhi' AND msg->'comment' ? 'text')
        OR (category = 'git' AND msg->'commit' ?| array['message', 'summary', 'name', 'email'])
        OR (category = 'wiki' AND msg ? 'summary')
        OR (category = 'discourse' AND (msg->'webhook_body'->'post' ?| array['raw', 'name', 'avatar_template']
                                    OR msg->'webhook_body'->'topic'->'created_by' ?| array['name', 'avatar_template']))`;
      expect(await scalar(c, `SELECT count(*)::int FROM pseudonymized.messages WHERE ${freeText}`)).toBe(0);
      expect(await scalar(c, `SELECT count(*)::int FROM datanommer.messages WHERE ${freeText}`)).toBeGreaterThan(N / 4);

      const expected = await scalar<number>(
        c,
        `SELECT count(*)::int FROM datanommer.messages WHERE
           (category = 'bodhi' AND msg->'comment' ? 'text') OR category = 'git'
           OR (category = 'wiki' AND msg->>'summary' <> '') OR (category = 'discourse' AND msg->'webhook_body' ? 'post')`,
      );
      expect(await scalar(c, 'SELECT count(*)::int FROM pii.message_text')).toBe(expected);
      const kinds = await c.query(
        `SELECT kind, count(*)::int AS n, count(author_email)::int AS emails FROM pii.message_text GROUP BY kind ORDER BY kind`,
      );
      expect(kinds.rows.map((r) => r.kind)).toEqual(['comment', 'commit']);
      expect(kinds.rows[1].emails).toBe(kinds.rows[1].n); // every commit keeps its author e-mail
      // Commit bodies in pii are exactly the source commit messages, joined on the UUID msg_id.
      expect(
        await scalar(
          c,
          `SELECT count(*)::int FROM pii.message_text t JOIN datanommer.messages d USING (msg_id)
           WHERE t.kind = 'commit' AND (t.body <> d.msg->'commit'->>'message' OR t.author_email <> d.msg->'commit'->>'email')`,
        ),
      ).toBe(0);
      expect(
        await scalar(
          c,
          'SELECT count(*)::int FROM pii.message_text t WHERE NOT EXISTS (SELECT 1 FROM pseudonymized.messages m WHERE m.msg_id = t.msg_id)',
        ),
      ).toBe(0);
    });
  });

  test('headers carry fedora_messaging_user_<pseudonym>, matching users_messages and the agent', async () => {
    await withClient(url, async (c) => {
      const badKeys = await c.query(
        `SELECT k FROM pseudonymized.messages, jsonb_object_keys(headers) k
         WHERE k LIKE 'fedora\\_messaging\\_user\\_%' AND k !~ '^fedora_messaging_user_u_[0-9a-f]{16}$' LIMIT 5`,
      );
      expect(badKeys.rows).toEqual([]);
      // Header user keys = the message's users in the bridge table, as pseudonyms.
      const mismatch = `
        WITH h AS (SELECT m.id, k FROM pseudonymized.messages m, jsonb_object_keys(m.headers) k
                   WHERE k LIKE 'fedora\\_messaging\\_user\\_%'),
             b AS (SELECT um.msg_id AS id, 'fedora_messaging_user_' || u.pseudonym AS k
                   FROM pseudonymized.users_messages um JOIN pseudonymized.users u ON u.id = um.user_id)
        SELECT count(*)::int FROM ((SELECT * FROM h EXCEPT SELECT * FROM b) UNION ALL (SELECT * FROM b EXCEPT SELECT * FROM h)) x`;
      expect(await scalar(c, mismatch)).toBe(0);
      expect(
        await scalar(
          c,
          `SELECT count(*)::int FROM pseudonymized.messages
           WHERE agent_pseudonym IS NOT NULL AND headers->('fedora_messaging_user_' || agent_pseudonym) IS DISTINCT FROM 'true'`,
        ),
      ).toBe(0);
      // agent_pseudonym is exactly the pseudonym of the source agent_name.
      expect(
        await scalar(
          c,
          `SELECT count(*)::int FROM datanommer.messages d JOIN pseudonymized.messages p USING (id)
           LEFT JOIN pii.users u ON u.username = d.agent_name
           WHERE p.agent_pseudonym IS DISTINCT FROM u.pseudonym`,
        ),
      ).toBe(0);
      expect(await scalar(c, `SELECT count(*)::int FROM pseudonymized.messages WHERE headers ? 'fedora_messaging_rpm_kernel'`)).toBeGreaterThan(0);
    });
  });

  test('indexes exist and statistics were gathered', async () => {
    await withClient(url, async (c) => {
      const { rows } = await c.query(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = 'pseudonymized' AND tablename = 'messages' ORDER BY 1`,
      );
      const defs = rows.map((r) => r.indexdef).join('\n');
      for (const col of ['topic', '"timestamp"', 'category', 'msg_id', 'id, "timestamp"']) expect(defs).toContain(`(${col})`);
      expect(await scalar(c, `SELECT count(*)::int FROM pg_stats WHERE schemaname = 'pseudonymized' AND tablename = 'messages'`)).toBeGreaterThan(5);
    });
  });

  test('same seed and key reload to byte-identical tables; another key changes only pseudonyms', async () => {
    const tables = [
      ['datanommer.messages', 'id'],
      ['pseudonymized.messages', 'id'],
      ['pseudonymized.users', 'id'],
      ['pseudonymized.users_messages', 'msg_id, user_id'],
      ['pii.users', 'pseudonym'],
      ['pii.message_text', 'msg_id, kind'],
    ] as const;
    const digests = async (c: pg.Client) => {
      const out: string[] = [];
      for (const [t, order] of tables) out.push(await digest(c, t, order));
      return out;
    };
    await withClient(url, async (c) => {
      const before = await digests(c);
      await quietLoad(c, SEED, KEY); // idempotent: drops and recreates the schemas
      expect(await digests(c)).toEqual(before);
    });

    const other = urlFor(await createDatabase('demo'));
    await withClient(other, async (c) => {
      await quietLoad(c, SEED, 'another-key');
      const [source, pseudo] = await digests(c);
      const [sameSource, samePseudo] = await withClient(url, digests);
      expect(source).toBe(sameSource); // the raw source does not depend on the key
      expect(pseudo).not.toBe(samePseudo);
      expect(await scalar(c, `SELECT pseudonym FROM pii.users WHERE username = 'alice'`)).toBe(await pseudonymFor('another-key', 'alice'));
      expect(await scalar(c, `SELECT pseudonym FROM pii.users WHERE username = 'alice'`)).not.toBe(await pseudonymFor(KEY, 'alice'));
    });
  });
});

describe('pseudonymFor', () => {
  test('is u_ + the first 16 hex digits of HMAC-SHA256(key, username)', async () => {
    const expected = `u_${createHmac('sha256', KEY).update('alice').digest('hex').slice(0, 16)}`;
    expect(await pseudonymFor(KEY, 'alice')).toBe(expected);
    expect(await pseudonymFor(KEY, 'alice')).toBe(expected); // cached key, same answer
    expect(await pseudonymFor('other', 'alice')).not.toBe(expected);
    expect(await pseudonymFor(KEY, 'bob')).toMatch(/^u_[0-9a-f]{16}$/);
  });
});

describe('Prng', () => {
  test('is deterministic per seed and makes v4-shaped UUIDs', () => {
    const draw = (seed: number) => {
      const p = new Prng(seed);
      return [p.u32(), p.next(), p.int(10), p.hex(12), p.uuid()];
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(1)[4]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('rewriteMessage (the policy dictionary, no code per topic)', () => {
  const base = {
    id: 7,
    msgId: '00000000-0000-4000-8000-000000000007',
    i: 1,
    timestamp: '2024-05-01 12:00:00.000000',
    sourceVersion: '1',
    packages: [],
  };
  const rules = compileRules(policy.pii_dictionary.messages);
  let pseudonyms: Map<string, string>;
  beforeAll(async () => {
    pseudonyms = await pseudonymTable(KEY, ['alice', 'bob', 'eve']);
  });
  const ctx = () => ({
    known: new Set(['alice', 'bob']),
    pseudonym: (_period: string, name: string) => pseudonyms.get(name) as string,
    period: () => 'all',
  });
  const rewrite = (src: SourceMessage, body = JSON.stringify(src.msg)): Rewritten =>
    rewriteMessage(
      {
        id: src.id,
        msg_id: src.msgId,
        i: src.i,
        topic: src.topic,
        timestamp: src.timestamp,
        category: src.category,
        agent_name: src.agentName,
        source_name: src.sourceName,
        source_version: src.sourceVersion,
        body,
        bytes: Buffer.byteLength(body),
        headers: src.headers,
      },
      rules,
      ctx(),
    );
  const ok = (r: Rewritten) => {
    if (!r.ok) throw new Error(`quarantined: ${r.reason}`);
    return r;
  };

  const gitReceive = (): SourceMessage => ({
    ...base,
    topic: 'org.fedoraproject.prod.git.receive',
    category: 'git',
    agentName: 'alice',
    sourceName: 'pagure',
    msg: {
      commit: {
        agent: 'alice',
        username: 'alice',
        name: 'Alice Liddell',
        email: 'alice@example.org',
        repo: 'kernel',
        branch: 'rawhide',
        message: 'Fix it\n\nThanks @bob',
        summary: 'Fix it',
      },
    },
    headers: { fedora_messaging_user_alice: true, fedora_messaging_rpm_kernel: true, priority: 0 },
    usernames: ['alice'],
  });

  test('git.receive: usernames -> pseudonyms, author and message -> pii text', () => {
    const src = gitReceive();
    const a = pseudonyms.get('alice');
    const { row, texts, usernames } = ok(rewrite(src));
    expect(row.agent_pseudonym).toBe(a);
    expect(row.msg).toEqual({ commit: { agent: a, username: a, repo: 'kernel', branch: 'rawhide' } });
    expect(row.headers).toEqual({ [`fedora_messaging_user_${a}`]: true, fedora_messaging_rpm_kernel: true, priority: 0 });
    expect(texts).toEqual([
      { msg_id: src.msgId, kind: 'commit', author_name: 'Alice Liddell', author_email: 'alice@example.org', body: 'Fix it\n\nThanks @bob' },
    ]);
    expect(usernames).toEqual(['alice']);
  });

  test('bodhi comment and wiki user page', () => {
    const [a, b] = [pseudonyms.get('alice'), pseudonyms.get('bob')];
    const bodhi = ok(
      rewrite({
        ...base,
        topic: 'org.fedoraproject.prod.bodhi.update.comment',
        category: 'bodhi',
        agentName: 'bob',
        sourceName: 'bodhi',
        msg: {
          agent: 'bob',
          comment: { text: 'works for me', karma: 1, user: { name: 'bob' }, update_alias: 'FEDORA-2024-abc' },
          update: { alias: 'FEDORA-2024-abc', user: { name: 'alice' } },
        },
        headers: { fedora_messaging_user_bob: true, fedora_messaging_user_alice: true },
        usernames: ['bob', 'alice'],
      }),
    );
    expect(bodhi.row.msg).toEqual({
      agent: b,
      comment: { karma: 1, user: { name: b }, update_alias: 'FEDORA-2024-abc' },
      update: { alias: 'FEDORA-2024-abc', user: { name: a } },
    });
    expect(bodhi.texts.map((t) => [t.kind, t.body])).toEqual([['comment', 'works for me']]);

    const wiki = ok(
      rewrite({
        ...base,
        topic: 'org.fedoraproject.prod.wiki.article.edit',
        category: 'wiki',
        agentName: 'alice',
        sourceName: 'mediawiki',
        msg: {
          title: 'User:Alice/Drafts',
          user: 'alice',
          summary: '',
          url: 'https://fedoraproject.org/w/index.php?title=User:Alice/Drafts&diff=2&oldid=1',
        },
        headers: {},
        usernames: ['alice'],
      }),
    );
    expect(wiki.row.msg).toEqual({
      title: `User:${a}/Drafts`,
      user: a,
      url: `https://fedoraproject.org/w/index.php?title=User:${a}/Drafts&diff=2&oldid=1`,
    });
    expect(wiki.texts).toEqual([]); // an empty edit summary is not worth a pii row
  });

  test('fails closed: what the rules missed is quarantined, never published; reasons never quote the value', () => {
    // A topic no rule was written for: the paths still apply, nothing per topic is needed.
    const koschei = ok(rewrite({ ...gitReceive(), topic: 'org.fedoraproject.prod.koschei.package.state.change', category: 'koschei' }));
    expect(koschei.row.agent_pseudonym).toBe(pseudonyms.get('alice'));
    // Any username gets a keyed pseudonym, listed or not.
    expect(ok(rewrite({ ...gitReceive(), agentName: 'eve' })).row.agent_pseudonym).toBe(pseudonyms.get('eve'));

    const leaky = gitReceive();
    (leaky.msg.commit as Record<string, unknown>).reviewer = 'bob'; // a field no rule knows about
    expect(rewrite(leaky)).toEqual({ ok: false, reason: 'personal data left' });
    const mail = gitReceive();
    (mail.msg.commit as Record<string, unknown>).cc = 'bob@fedoraproject.org';
    expect(rewrite(mail)).toEqual({ ok: false, reason: 'personal data left' });
    const key = gitReceive();
    key.headers.fedora_messaging_user_x = true;
    (key.msg.commit as Record<string, unknown>).bob = 1; // a username as a key
    expect(rewrite(key)).toEqual({ ok: false, reason: 'personal data left' });
  });

  test('bodies jsonb cannot hold are refused with their reason', () => {
    const src = gitReceive();
    expect(rewrite(src, '{"commit": ')).toEqual({ ok: false, reason: 'invalid JSON' });
    expect(rewrite(src, '{"commit": {"message": "a\\u0000b"}}')).toEqual({ ok: false, reason: 'contains \\u0000' });
    expect(rewrite(src, '{"commit": {"x": "\\ud800"}}')).toEqual({ ok: false, reason: 'lone surrogate' });
    expect(rewrite(src, '[1, 2]')).toEqual({ ok: false, reason: 'not an object' });
    const big = rewriteMessage({ ...ok(rewrite(src)).row, agent_name: null, body: null, bytes: JSONB_MAX_BYTES + 1, headers: null }, rules, ctx());
    expect(big).toEqual({ ok: false, reason: 'too large' });
    // An escaped backslash before "u0000" is text, not a NUL.
    expect(rewrite(src, '{"commit": {"repo": "a\\\\u0000b"}}').ok).toBe(true);
  });
});
