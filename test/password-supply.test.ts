// Passwords made ahead of need (src/credentials/password-supply.ts): each pair belongs together,
// is handed out once, and the supply refills in the background and survives a failing maker.
import { describe, expect, it } from 'vitest';
import { PasswordSupply, freshPassword } from '../src/credentials/password-supply.js';
import { scramSha256Verifier } from '../src/provisioner/scram.js';

/** Recomputes the verifier from the password with the verifier's own salt and iterations. */
async function belongsTogether(p: { password: string; verifier: string }): Promise<boolean> {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(p.verifier);
  if (!m) return false;
  const salt = Uint8Array.from(atob(m[2]!), (ch) => ch.charCodeAt(0));
  return (await scramSha256Verifier(p.password, { iterations: Number(m[1]), salt })) === p.verifier;
}

const settle = async (supply: PasswordSupply, size: number) => {
  await supply.idle();
  expect(supply.available).toBe(size);
};

describe('PasswordSupply', () => {
  it('keeps `size` pairs ready after a refill, each a password with its own verifier', async () => {
    const supply = new PasswordSupply(3);
    expect(supply.available).toBe(0);
    supply.refill();
    await settle(supply, 3);
    expect(supply.available).toBe(3);
    const pairs = [await supply.take(), await supply.take(), await supply.take()];
    expect(supply.available).toBe(0);
    for (const p of pairs) expect(await belongsTogether(p)).toBe(true);
    expect(new Set(pairs.map((p) => p.password)).size).toBe(3);
    expect(new Set(pairs.map((p) => p.verifier)).size).toBe(3);
  });

  it('never hands a pair out twice, also to takes at the same moment, and makes one on demand when empty', async () => {
    const supply = new PasswordSupply(2);
    supply.refill();
    await settle(supply, 2);
    const pairs = await Promise.all(Array.from({ length: 5 }, () => supply.take()));
    expect(new Set(pairs.map((p) => p.password)).size).toBe(5);
    for (const p of pairs) expect(await belongsTogether(p)).toBe(true);
  });

  it('size 0 holds nothing: every pair is made on demand', async () => {
    const supply = new PasswordSupply(0);
    supply.refill();
    await new Promise((r) => setTimeout(r, 50));
    expect(supply.available).toBe(0);
    expect(await belongsTogether(await supply.take())).toBe(true);
  });

  it('a failing maker fails only the take that needed it; the next refill works again', async () => {
    let fail = true;
    const supply = new PasswordSupply(2, () => (fail ? Promise.reject(new Error('no entropy today')) : freshPassword()));
    supply.refill();
    await expect(supply.take()).rejects.toThrow('no entropy today');
    expect(supply.available).toBe(0);
    fail = false;
    await supply.idle();
    supply.refill();
    await settle(supply, 2);
    expect(supply.available).toBe(2);
    expect(await belongsTogether(await supply.take())).toBe(true);
  });
});
