import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { AppError } from '../errors.js';
import { STORABLE_TEXT_MESSAGE, isStorableText } from './schemas.js';

/**
 * The largest body the gate reads. Its largest legitimate body is a PII request: a purpose of at
 * most 4000 characters, which JSON-escaped is at most 24 KB.
 */
export const MAX_BODY_BYTES = 64 * 1024;

/** `purpose: at most 4000 characters; durationSeconds: ...`: each issue with the field it is about. */
export const describeIssues = (issues: readonly z.core.$ZodIssue[], whole: 'body' | 'query' = 'body') =>
  issues.map((i) => `${i.path.map(String).join('.') || whole}: ${i.message}`).join('; ');

// Checked before anything is parsed: a declared Content-Length at once, a streamed body as it is
// read (reading stops at the limit).
const limited = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new AppError('payload_too_large', `The body is too large: at most ${MAX_BODY_BYTES} bytes.`);
  },
});

/** Runs `read` on the request body, cut off at MAX_BODY_BYTES. */
async function withinLimit<T>(c: Context, read: () => Promise<T>): Promise<T> {
  // A declared length is the body's length (the HTTP parser frames the body by it), so it is
  // checked, and the body read, without bodyLimit's stream copy: that copy costs a JSON POST about
  // as much as the rest of its HTTP handling. A streamed body (no length) is counted as it is read.
  const declared = c.req.header('content-length');
  if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
    // Node's parser refuses a malformed length before this runs; another runtime might not.
    if (!/^\d+$/.test(declared)) throw new AppError('bad_request', 'The Content-Length header is not a number.');
    if (Number(declared) > MAX_BODY_BYTES) throw new AppError('payload_too_large', `The body is too large: at most ${MAX_BODY_BYTES} bytes.`);
    return read();
  }
  let out: { value: T } | undefined;
  await limited(c, async () => {
    out = { value: await read() };
  });
  if (!out) throw new AppError('payload_too_large', `The body is too large: at most ${MAX_BODY_BYTES} bytes.`);
  return out.value;
}

/**
 * Every string of a parsed body, keys included, must be storable text: whatever field it is
 * destined for, PostgreSQL would refuse it. Iterative, so a deeply nested body cannot overflow the stack.
 */
function refuseUnstorable(data: unknown, what: 'body' | 'form'): void {
  const stack: { value: unknown; path: string }[] = [{ value: data, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
    if (typeof value === 'string') {
      if (!isStorableText(value)) throw new AppError('bad_request', `Invalid ${what === 'body' ? 'request' : 'form'}: ${path || what}: ${STORABLE_TEXT_MESSAGE}`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: at(i) }));
    } else if (value !== null && typeof value === 'object' && !(value instanceof Blob)) {
      for (const [k, v] of Object.entries(value)) {
        if (!isStorableText(k)) throw new AppError('bad_request', `Invalid ${what === 'body' ? 'request' : 'form'}: a field name ${STORABLE_TEXT_MESSAGE}`);
        stack.push({ value: v, path: at(k) });
      }
    }
  }
}

// What @hono/zod-openapi's validators take without throwing an HTTPException (a 415 or "Malformed
// JSON", which would not be our 400): a JSON media type, optionally with parameters.
const JSON_CONTENT_TYPE = /^application\/json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/**
 * Runs before the zod validators of a route with a JSON body (`apiRoute` adds it): the body is read
 * within MAX_BODY_BYTES, must be JSON sent as JSON, and every string in it, keys included, storable
 * text; otherwise a 400 (or 413) that says why. An empty body counts as `{}`, whatever its
 * Content-Type: the validators then see a request without a body.
 */
export const jsonInput: MiddlewareHandler = async (c, next) => {
  const text = await withinLimit(c, () => c.req.text());
  if (text.trim() === '') {
    const headers = new Headers(c.req.raw.headers);
    headers.delete('content-type');
    headers.delete('content-length');
    c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers, signal: c.req.raw.signal });
    c.req.bodyCache = {};
    return next();
  }
  if (!JSON_CONTENT_TYPE.test(c.req.header('content-type') ?? '')) {
    throw new AppError('bad_request', 'Send the body as JSON with Content-Type: application/json.');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new AppError('bad_request', 'The body is not valid JSON.');
  }
  refuseUnstorable(data, 'body');
  // The validator parses the cached text again; 64 KiB at most, so no cache of the value is kept.
  await next();
};

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; shape?: Record<string, z.ZodType> };
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Does this field take a number (through optional, nullable, default, or a pipe's input)? */
function takesNumber(schema: z.ZodType | undefined): boolean {
  for (let s = schema, depth = 0; s && depth < 10; depth++) {
    const def = defOf(s);
    if (def.type === 'number') return true;
    s = def.innerType ?? def.in;
  }
  return false;
}

/**
 * HTML forms send strings only. A field the schema takes as a number may come as decimal digits
 * (a `<select>` of durations, say), which become that number; any other string is left for the
 * schema to refuse, so `0x10`, `1e4`, ` 3600` or `3600.0` are a 400 as they are in JSON.
 */
function formNumbers(schema: z.ZodType, form: Record<string, unknown>): Record<string, unknown> {
  const shape = defOf(schema).type === 'object' ? defOf(schema).shape : undefined;
  if (!shape) return form;
  const out = { ...form };
  for (const [key, field] of Object.entries(shape)) {
    const v = out[key];
    if (typeof v === 'string' && /^\d{1,15}$/.test(v) && takesNumber(field)) out[key] = Number(v);
  }
  return out;
}

export async function formBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let form: Record<string, unknown>;
  try {
    form = (await withinLimit(c, () => c.req.parseBody())) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('bad_request', 'The form could not be read.');
  }
  refuseUnstorable(form, 'form');
  const result = schema.safeParse(formNumbers(schema, form));
  if (!result.success) throw new AppError('bad_request', `Invalid form: ${describeIssues(result.error.issues)}`);
  return result.data;
}
