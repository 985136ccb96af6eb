// Property-based fuzzing (fast-check) of every /api operation the OpenAPI document lists: path ids
// (numbers of every size, text, raw bytes that are not UTF-8), query parameters (documented and
// not), and JSON bodies (shaped after the operation's schema with wrong leaves, any JSON at all,
// text that is not JSON, the wrong Content-Type), sent by a persona the operation's action admits,
// or by anyone. Whatever comes in: never a 500, never a stack trace or a source path, every error
// in the one shape, and every answer one the document lists for that operation.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Action, decide } from '../src/access/rules.js';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { type Persona, personas } from './support/personas.js';
import { errorShapeProblem } from './support/route-walk.js';

let gate: TestGate;
let people: Persona[];
let contract: ApiContract;
let doc: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };

/** Runs per operation (FUZZ_RUNS for a longer hunt): about 20 operations, so about 450 requests in all. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 24);

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200, config: { cliPollSeconds: 1 } });
  people = (await personas(gate)).filter((p) => !p.dead);
  contract = apiContract(gate);
  doc = (await (await fetch(`${gate.url}/openapi.json`)).json()) as typeof doc;
});
afterAll(async () => {
  await gate?.close();
});

// --- Arbitraries ----------------------------------------------------------------------------------

const weird = fc.constantFrom('', ' ', '0', '-1', '1e3', '0x10', '2147483648', '9007199254740993', '１２', 'NaN', 'null', '[]', '{}', '\u0000', '%00', '../', 'a'.repeat(5000));
const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }), weird);

/** A path segment: numbers of every size, text, or raw bytes (percent-encoded, often not UTF-8). */
const pathSegment = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  // Every magnitude up to 20 digits, and the edges of PostgreSQL's integer and JavaScript's safe integer.
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.bigInt({ min: 0n, max: 10n ** 20n })).map(([digits, n]) => String(n % 10n ** BigInt(digits))),
  fc.constantFrom('1', '2', '2147483647', '2147483648', '4294967296', '9999999999', '9007199254740991', '9007199254740992', '00000000001'),
  fc.string({ minLength: 1, maxLength: 30 }).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, 'x'))),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')),
  weird.filter((w) => w !== '').map(encodeURIComponent),
);

const resolve = (schema: any): any => (schema?.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] : schema);

/** A value shaped after a JSON schema, each leaf now and then something else entirely. */
function fromSchema(raw: any, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw) ?? {};
  const wrong = fc.oneof(fc.jsonValue({ maxDepth: 2 }), anyText);
  const alts = schema.oneOf ?? schema.anyOf;
  if (alts) return fc.oneof(...alts.map((s: any) => fromSchema(s, depth + 1)));
  let right: fc.Arbitrary<unknown>;
  if (schema.enum) right = fc.constantFrom(...schema.enum);
  else if (schema.const !== undefined) right = fc.constant(schema.const);
  else if (schema.type === 'object') {
    const props = Object.entries<any>(schema.properties ?? {});
    const required = new Set<string>(schema.required ?? []);
    const record = fc.record(Object.fromEntries(props.map(([k, s]) => [k, fromSchema(s, depth + 1)])), {
      requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)),
    });
    right = fc
      .tuple(record, fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), { freq: 5 }), fc.option(fc.constantFrom(...(props.map(([k]) => k).concat('x'))), { freq: 6 }))
      .map(([obj, extra, drop]) => {
        const out: Record<string, unknown> = { ...(extra ?? {}), ...(obj as object) };
        if (drop) delete out[drop];
        return out;
      });
  } else if (schema.type === 'array') {
    right = fc.array(fromSchema(schema.items, depth + 1), { minLength: 0, maxLength: Math.min(schema.maxItems ?? 5, 25) + 2 });
  } else if (schema.type === 'integer' || schema.type === 'number') {
    const min = schema.minimum ?? -1e6;
    const max = schema.maximum ?? 1e6;
    right = fc.oneof(fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) }), fc.constantFrom(min - 1, max + 1, 0.5, -0, 1e308, Number.MAX_SAFE_INTEGER + 2));
  } else if (schema.type === 'string') {
    const len = { minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 60, 120) };
    right = fc.oneof(fc.string(len), fc.string({ ...len, unit: 'binary' }), fc.string({ minLength: len.maxLength + 1, maxLength: len.maxLength + 3 }), weird);
  } else if (schema.type === 'boolean') right = fc.boolean();
  else right = fc.jsonValue({ maxDepth: 2 });
  return depth > 3 ? right : fc.oneof({ weight: 5, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

/** A request body: after the schema, any JSON, text that is not JSON, nothing; sometimes not labelled JSON. */
function bodyOf(op: any): fc.Arbitrary<{ body?: string; type?: string }> {
  const schema = op.requestBody?.content?.['application/json']?.schema;
  if (!schema) return fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 2 }).map((v) => ({ body: JSON.stringify(v) ?? 'null', type: 'application/json' })));
  const json = fc.oneof(
    { weight: 6, arbitrary: fromSchema(schema) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  ).map((v) => JSON.stringify(v) ?? 'null');
  const text = fc.oneof(json, { weight: 1, arbitrary: fc.string({ maxLength: 60 }) }, { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', '[1,2', '\u0000', '{"datasets":"\uD800"}') });
  const type = fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, fc.constantFrom(undefined, 'text/plain', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'));
  return fc.record({ body: text, type });
}

/** Query strings: the documented parameters with any values, and now and then one more. */
function queryOf(op: any): fc.Arbitrary<string> {
  const names: string[] = (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name);
  if (names.length === 0) return fc.option(fc.dictionary(fc.string({ maxLength: 6 }), anyText, { maxKeys: 2 }), { freq: 4 }).map((d) => (d ? new URLSearchParams(d).toString() : ''));
  const value = fc.oneof(anyText, fc.constantFrom('access.denied', 'login', '2026-01-01', '2026-13-45', '9999-12-31T23:59:59Z', '0001-01-01', '200', '201', '1'));
  return fc
    .tuple(fc.subarray(names), fc.array(value, { minLength: names.length, maxLength: names.length }), fc.option(fc.tuple(fc.string({ maxLength: 8 }), anyText), { freq: 5 }))
    .map(([picked, values, extra]) => {
      const q = new URLSearchParams();
      picked.forEach((n, i) => q.append(n, values[i]!));
      if (extra) q.append(extra[0], extra[1]);
      return q.toString();
    });
}

// --- The property ---------------------------------------------------------------------------------

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).map(([method, op]) => ({ method: method.toUpperCase(), path, op })));

/** Who asks: mostly someone the operation's action admits (to reach its validators), else anyone. */
function askers(op: any, method: string): fc.Arbitrary<Persona> {
  const action = op['x-access'].action as Action;
  const version = gate.policy.agreement.version;
  // `fdwg logout` with the token persona would end it for the rest of the run.
  const usable = people.filter((p) => !(action === 'signout' && p.via === 'bearer'));
  const admitted = usable.filter((p) => !decide(action, p.standing && { standing: p.standing, agreement: { version, accepted: p.agreementAccepted } }));
  void method;
  return admitted.length ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...admitted) }, { weight: 1, arbitrary: fc.constantFrom(...usable) }) : fc.constantFrom(...usable);
}

describe('every /api operation, fuzzed', () => {
  test('the document lists the operations the fuzzing covers', () => {
    expect(operations().length).toBeGreaterThanOrEqual(19);
    for (const { op } of operations()) expect(op['x-access']?.action).toBeTruthy();
  });

  test('never a 500, never a stack trace, one error shape, only documented answers', async () => {
    const statuses = new Map<number, number>();
    for (const { method, path, op } of operations()) {
      const params: string[] = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      const request = fc.record({
        who: askers(op, method),
        ids: fc.array(pathSegment, { minLength: params.length, maxLength: params.length }),
        query: queryOf(op),
        body: method === 'GET' ? fc.constant({} as { body?: string; type?: string }) : bodyOf(op),
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ who, ids, query, body }) => {
          let url = path;
          params.forEach((p, i) => (url = url.replace(`{${p}}`, ids[i]!)));
          if (query) url += `?${query}`;
          const headers: Record<string, string> = { origin: gate.url };
          if (body.type) headers['content-type'] = body.type;
          const res = await who.request(url, { method, headers, body: body.body });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const what = `${method} ${url} as ${who.name} (${body.type ?? 'no type'}: ${(body.body ?? '').slice(0, 120)}) -> ${res.status} ${text.slice(0, 300)}`;
          expect(res.status, what).toBeLessThan(500);
          expect(text, what).not.toMatch(/\n\s+at |\.tsx?:\d+|node_modules/);
          if (path === '/api/docs' && res.status === 200) return;
          expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
          const parsed = JSON.parse(text) as unknown;
          if (res.status >= 400) expect(errorShapeProblem(parsed), what).toBeUndefined();
          // A path the router did not match (an id it cut at a slash) is not this operation's.
          if (res.status === 404 && (parsed as { error: { message: string } }).error.message.startsWith('Nothing at')) return;
          contract.check(method, url.split('?')[0]!, res.status, parsed);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    }
    // The fuzzing reached past the guards: bad input answered, and some requests got through.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100);
    expect([...statuses.keys()].some((s) => s >= 200 && s < 300)).toBe(true);
  }, Math.max(60_000, RUNS * 2_000));
});
