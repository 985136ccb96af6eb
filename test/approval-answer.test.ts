// A final approval answers with the request as it committed it, without reading it back
// (src/requests/service.ts grant): the answer must equal what the request reads as afterwards.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';

let gate: TestGate;
let contract: ApiContract;
const s: Record<string, HttpSession> = {};
const PURPOSE = 'Classify update comments by topic for the FDWG tooling survey; we need the text itself because the pseudonymized tier has none.';

async function api(who: string, method: string, path: string, body?: unknown) {
  const res = await s[who]!.request(`${gate.url}/api${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, data: contract.check(method, `/api${path}`, res.status, (await res.json()) as any) };
}

beforeAll(async () => {
  gate = await startTestGate();
  contract = apiContract(gate);
  for (const who of ['alice', 'bob', 'dave']) {
    s[who] = new HttpSession();
    await signIn(s[who]!, gate.url, who, `${who}-demo`);
  }
  expect((await api('alice', 'POST', '/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await gate?.close();
});

test("the final approval's answer is the request as read back afterwards: votes with comments, grants, decision", async () => {
  const created = await api('alice', 'POST', '/requests', { datasets: ['message_text', 'maintainer_identities'], purpose: PURPOSE, durationSeconds: 7200 });
  expect(created.status, JSON.stringify(created.data)).toBe(201);
  const id = created.data.id;
  expect((await api('dave', 'POST', `/requests/${id}/reviews`, { decision: 'approve', comment: 'fine by me' })).data.final).toBe(false);
  const decided = await api('bob', 'POST', `/requests/${id}/reviews`, { decision: 'approve', comment: 'for the survey only' });
  expect(decided.status, JSON.stringify(decided.data)).toBe(200);
  expect(decided.data.final).toBe(true);
  const mine = await api('alice', 'GET', '/requests');
  const stored = mine.data.requests.find((r: { id: number }) => r.id === id);
  expect(stored.grants).toHaveLength(2);
  expect(stored.reviews.map((v: { reviewer: string; comment: string }) => [v.reviewer, v.comment])).toEqual([
    ['dave', 'fine by me'],
    ['bob', 'for the survey only'],
  ]);
  expect(decided.data.request).toEqual(stored);
});
