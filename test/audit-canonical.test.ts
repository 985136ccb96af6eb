// The access log's canonical form, pinned byte for byte: fixed events, the exact text their hash
// covers and that hash, through every builder of it (src/audit/chain.ts from values, both paths of
// src/audit/chain-encoder.ts from PostgreSQL's COPY text). A change here breaks every stored chain.
// The COPY lines are what PostgreSQL 18 printed for these rows (TimeZone UTC, DateStyle ISO).
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { type ChainedFields, canonicalRowMiddle, canonicalRowText, rowHash } from '../src/audit/chain.js';
import { RowEncoder, rowFromCopyLine } from '../src/audit/chain-encoder.js';

interface Pinned {
  event: ChainedFields;
  copyLine: string;
  text: string;
  hash: string;
  /** The byte path takes this line (else only the string path does). */
  bytePath: boolean;
}

const pinned: Pinned[] = [
  {
    event: {
      at: '2026-03-14T15:09:26.535Z',
      actor: 'alice',
      subject: 'bob',
      action: 'credential.issued',
      requestId: 42,
      dataset: 'pii.users',
      details: { ttlSeconds: 3600, role: 'fdwg_bob', note: 'café', nested: { z: [1, -2, true, null], a: {} } },
      prevHash: '0123456789abcdef'.repeat(4),
    },
    copyLine:
      '1\t2026-03-14 15:09:26.535+00\talice\tbob\tcredential.issued\t42\tpii.users\t' +
      '{"note": "café", "role": "fdwg_bob", "nested": {"a": {}, "z": [1, -2, true, null]}, "ttlSeconds": 3600}\t' +
      '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\t979fff56d8129ed2a0baf848f728d732d789dfbec53b2c2d82bd915c69873cfd',
    text:
      '["2026-03-14T15:09:26.535Z","alice","bob","credential.issued",42,"pii.users",' +
      '{"nested":{"a":{},"z":[1,-2,true,null]},"note":"café","role":"fdwg_bob","ttlSeconds":3600},' +
      '"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]',
    hash: '979fff56d8129ed2a0baf848f728d732d789dfbec53b2c2d82bd915c69873cfd',
    bytePath: true,
  },
  {
    event: {
      at: '2026-03-14T15:09:26.500Z',
      actor: 'system:pgaudit',
      subject: null,
      action: 'pii.read',
      requestId: null,
      dataset: null,
      details: { é: 'tab\there "quoted" \\ \u2028', b: 1.5, a: 1e21, c: -0 },
      prevHash: '0'.repeat(64),
    },
    copyLine:
      '2\t2026-03-14 15:09:26.5+00\tsystem:pgaudit\t\\N\tpii.read\t\\N\t\\N\t' +
      '{"a": 1000000000000000000000, "b": 1.5, "c": 0, "é": "tab\\\\there \\\\"quoted\\\\" \\\\\\\\ \u2028"}\t' +
      '0000000000000000000000000000000000000000000000000000000000000000\t684b4dd84d4ce3392ed1f1ab3053d95e307f01a9c1e57192abdfa5fe8f5d510e',
    text:
      '["2026-03-14T15:09:26.500Z","system:pgaudit",null,"pii.read",null,null,' +
      '{"a":1e+21,"b":1.5,"c":0,"é":"tab\\there \\"quoted\\" \\\\ \u2028"},' +
      '"0000000000000000000000000000000000000000000000000000000000000000"]',
    hash: '684b4dd84d4ce3392ed1f1ab3053d95e307f01a9c1e57192abdfa5fe8f5d510e',
    bytePath: false,
  },
];

describe('the canonical form', () => {
  test('fixed events give the pinned text and hash, from values and from COPY lines', async () => {
    const enc = new RowEncoder();
    for (const p of pinned) {
      // The hash covers the text's UTF-8 bytes.
      expect(createHash('sha256').update(Buffer.from(p.text, 'utf8')).digest('hex')).toBe(p.hash);
      // From values (the writer's side; the database wraps the middle with `at` and the head).
      expect(canonicalRowText(p.event)).toBe(p.text);
      expect(await rowHash(p.event)).toBe(p.hash);
      expect(`[${JSON.stringify(p.event.at)},${canonicalRowMiddle(p.event)},${JSON.stringify(p.event.prevHash)}]`).toBe(p.text);
      // From PostgreSQL's COPY text (the verifier's side): string path, then byte path.
      expect(rowFromCopyLine(p.copyLine)).toEqual({ id: p.copyLine.split('\t')[0], text: p.text, prevHash: p.event.prevHash, hash: p.hash });
      const bytes = Buffer.from(`${p.copyLine}\n`, 'utf8');
      expect(enc.encode(bytes, 0, bytes.length - 1)).toBe(p.bytePath);
      if (p.bytePath) expect(Buffer.from(enc.out.subarray(0, enc.len)).equals(Buffer.from(p.text, 'utf8'))).toBe(true);
    }
  });
});
