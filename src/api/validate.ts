import type { Context } from 'hono';
import type { z } from 'zod';
import { AppError } from '../errors.js';

const describe = (issues: z.core.$ZodIssue[]) =>
  issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');

/** Parses a JSON body (an empty body counts as `{}`) or throws a 400 that says what is wrong. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
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
  const result = schema.safeParse(data);
  if (!result.success) throw new AppError('bad_request', `Invalid request: ${describe(result.error.issues)}`);
  return result.data;
}

export async function formBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let form: Record<string, unknown>;
  try {
    form = (await c.req.parseBody()) as Record<string, unknown>;
  } catch {
    throw new AppError('bad_request', 'The form could not be read.');
  }
  const result = schema.safeParse(form);
  if (!result.success) throw new AppError('bad_request', `Invalid form: ${describe(result.error.issues)}`);
  return result.data;
}
