import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { AppError } from '../errors.js';
import { STORABLE_TEXT_MESSAGE, isStorableText } from './schemas.js';

/**
 * The largest body the gate reads. Its largest legitimate body is a PII request: a purpose of at
 * most 4000 characters, which JSON-escaped is at most 24 KB.
 */
export const MAX_BODY_BYTES = 64 * 1024;

const describe = (issues: z.core.$ZodIssue[]) =>
  issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');

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

/** Parses a JSON body (an empty body counts as `{}`) or throws a 400 that says what is wrong. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await withinLimit(c, () => c.req.text());
  let data: unknown = {};
  if (text.trim() !== '') {
    if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
      throw new AppError('bad_request', 'Send the body as JSON with Content-Type: application/json.');
    }
    try {
      data = JSON.parse(text);
    } catch {
      throw new AppError('bad_request', 'The body is not valid JSON.');
    }
  }
  refuseUnstorable(data, 'body');
  const result = schema.safeParse(data);
  if (!result.success) throw new AppError('bad_request', `Invalid request: ${describe(result.error.issues)}`);
  return result.data;
}

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
  if (!result.success) throw new AppError('bad_request', `Invalid form: ${describe(result.error.issues)}`);
  return result.data;
}
