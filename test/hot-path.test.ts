// Pieces of the per-request path made cheaper (issue 14, P2): they must keep their guarantees.
import { Hono } from 'hono';
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { batchedStdout } from '../src/node/log-sink.js';
import { NONCE } from '../src/web/nonce.js';

describe('CSP nonces from pooled randomness', () => {
  test('one per request, 16 random bytes each, never repeated across many pool refills', async () => {
    const app = new Hono();
    app.get('/', (c) => c.text(`${NONCE(c)} ${NONCE(c)} ${c.get('secureHeadersNonce' as never)}`));
    const seen = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const [first, again, stored] = (await (await app.request('/')).text()).split(' ');
      // The same request asks twice (script-src and style-src): one nonce, kept for the page.
      expect(again).toBe(first);
      expect(first).toBe(`'nonce-${stored}'`);
      expect(Buffer.from(stored!, 'base64')).toHaveLength(16);
      seen.add(stored!);
    }
    expect(seen.size).toBe(1_000);
  });
});

describe('batched log lines', () => {
  test('lines of one turn leave in one write, in order, and nothing is held past the turn', async () => {
    const out = new PassThrough();
    const writes: string[] = [];
    out.on('data', (chunk: Buffer) => writes.push(chunk.toString()));
    const sink = batchedStdout(out as unknown as NodeJS.WriteStream);
    sink('{"n":1}');
    sink('{"n":2}');
    sink('{"n":3}');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
    sink('{"n":4}');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n']);
  });
});
