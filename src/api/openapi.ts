// What every /api route file needs: a router whose zod failures are our 400s, `apiRoute` (createRoute
// with the gate's defaults), `errorResponses` for the one error shape, and the OpenAPI 3.1 document
// built from the one OpenAPIHono that holds every /api route.
import { OpenAPIHono, type RouteConfig, createRoute, z } from '@hono/zod-openapi';
import type { Hono, MiddlewareHandler } from 'hono';
import pkg from '../../package.json' with { type: 'json' };
import { guard, matchedOpenRoute } from '../access/guard.js';
import { type Action, actions, refusalCodes, whoRules } from '../access/rules.js';
import { SESSION_COOKIE } from '../auth/oidc.js';
import type { AppConfig } from '../config.js';
import { AppError, type ErrorCode, errorStatus } from '../errors.js';
import type { AppEnv } from '../types.js';
import { printable } from './schemas.js';
import { MAX_BODY_BYTES, describeIssues, jsonInput } from './validate.js';

// --- Errors ----------------------------------------------------------------------------------------

type ErrorStatus = (typeof errorStatus)[ErrorCode];

const errorCodesOf = (status: ErrorStatus) =>
  (Object.keys(errorStatus) as ErrorCode[]).filter((code) => errorStatus[code] === status) as [ErrorCode, ...ErrorCode[]];

const statusMeaning: Record<number, string> = {
  400: 'Bad input',
  401: 'No identity',
  403: 'Refused',
  404: 'Not found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Too large',
  429: 'Too many requests',
  500: 'Unexpected error',
  503: 'Unavailable',
};
const codeMeaning: Partial<Record<string, string>> = {
  bad_request: 'the message names the field and what is wrong with it',
  unauthenticated: 'sign in, or send `Authorization: Bearer <token>`; a refused token says why',
  csrf_failed: 'a cross-site request',
  forbidden: 'not open to you',
  not_admitted: 'not an admitted FDWG member',
  agreement_required: 'accept the current data-use agreement first',
  not_found: 'no such thing, or not yours',
  conflict: 'not possible in the current state; `details` may say more',
  payload_too_large: `a body over ${MAX_BODY_BYTES} bytes, refused before it is parsed`,
  idp_unavailable: 'the identity provider is not answering',
  db_unavailable: 'a database is not answering; try again in a minute',
  internal: 'logged under the request id',
};

/** The one error shape (src/errors.ts `errorBody`), its `code` one of the codes of one status. */
const errorSchemas = new Map<ErrorStatus, z.ZodType>();
function errorSchema(status: ErrorStatus): z.ZodType {
  let schema = errorSchemas.get(status);
  if (!schema) {
    schema = z
      .strictObject({
        error: z.strictObject({
          code: z.enum(errorCodesOf(status)),
          message: z.string().openapi({ description: 'For people: what went wrong and, where it helps, what to do.' }),
          requestId: z.string().optional().openapi({ description: 'Quote it when reporting a problem.' }),
          details: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Machine-readable specifics, when there are any.' }),
        }),
      })
      .openapi(`Error${status}`, { description: `The error shape, with a code of status ${status}.` });
    errorSchemas.set(status, schema);
  }
  return schema;
}

/** The codes an `errorResponses` entry lists, so `apiRoute` can merge its own into it. */
const codesOfResponse = new WeakMap<object, ErrorCode[]>();

type ErrorResponse = { description: string; content: { 'application/json': { schema: z.ZodType } } };
type StatusOf<T> = T extends ErrorCode ? (typeof errorStatus)[T] : T;

/**
 * Documented error responses in the one error shape, by status (every code of it) or by code:
 * `responses: { 200: ..., ...errorResponses(403, 404, 'conflict') }`.
 */
export function errorResponses<const S extends (ErrorStatus | ErrorCode)[]>(...items: S): { [K in S[number] as StatusOf<K>]: ErrorResponse } {
  const codes = new Map<ErrorStatus, Set<ErrorCode>>();
  for (const item of items) {
    const status = typeof item === 'number' ? item : errorStatus[item];
    const set = codes.get(status) ?? new Set();
    for (const code of typeof item === 'number' ? errorCodesOf(item) : [item]) set.add(code);
    codes.set(status, set);
  }
  const out: Partial<Record<ErrorStatus, ErrorResponse>> = {};
  for (const [status, set] of codes) {
    const list = [...set].map((c) => (codeMeaning[c] ? `\`${c}\` (${codeMeaning[c]})` : `\`${c}\``)).join('; ');
    const response = { description: `${statusMeaning[status] ?? 'Error'}: ${list}.`, content: { 'application/json': { schema: errorSchema(status) } } };
    codesOfResponse.set(response, [...set]);
    out[status] = response;
  }
  return out as { [K in S[number] as StatusOf<K>]: ErrorResponse };
}

/** Turns a failed zod check of a request part into our 400, worded as the hand-written checks were. */
export const zodFailureToAppError = (result: { success: boolean; target: string; error?: z.ZodError; data?: unknown }): void => {
  if (result.success || !result.error) return;
  const issues = result.error.issues;
  if (result.target === 'param') {
    // An id in the path: `Invalid id "12x": a positive integer.`
    const name = String(issues[0]?.path[0] ?? 'parameter');
    const raw = (result.data as Record<string, unknown> | undefined)?.[name];
    throw new AppError('bad_request', `Invalid ${name} "${printable(String(raw ?? ''))}": ${issues[0]?.message}.`);
  }
  if (result.target === 'query') throw new AppError('bad_request', `Invalid query: ${describeIssues(issues, 'query')}`);
  throw new AppError('bad_request', `Invalid request: ${describeIssues(issues, 'body')}`);
};

/** Every /api router: a failed zod check becomes an AppError, answered by the one error handler. */
export const apiRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: zodFailureToAppError });

// --- Routes ----------------------------------------------------------------------------------------

/** The /api gate: an identity unless the route is open to anyone (its action), and no caching. */
export const apiGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Unknown /api paths too are a 401 for the signed-out: nothing under /api is a directory.
  if (!c.get('identity') && !matchedOpenRoute(c)) throw new AppError('unauthenticated', 'Sign in first (GET /auth/login).');
  c.header('Cache-Control', 'no-store');
  await next();
};

const UNSAFE = new Set(['post', 'put', 'patch', 'delete']);

/**
 * `createRoute` with the gate's defaults:
 * - `action` (src/access/rules.ts) is checked first, before the body is read: its guard answers
 *   401/403 and records refusals; an action open to anyone makes the route public (`security: []`),
 *   otherwise the document's default (bearer or cookie) applies;
 * - a JSON body is read by `jsonInput` next (64 KiB limit, JSON only, storable text), and is
 *   `required` exactly when the schema refuses `{}` (an empty body counts as `{}`);
 * - error responses every such route can give are added: 401, 500 and 503; the 403 codes of its
 *   action, and 403 (cross-site) on unsafe methods; 400 with params, query or body; 413 with a
 *   body. Declare the rest with `...errorResponses(...)`.
 */
export function apiRoute<P extends string, R extends Omit<RouteConfig, 'path'> & { path: P; action: Action }>(config: R) {
  const { action, ...route } = config;
  const body = route.request?.body;
  const jsonSchema = (body?.content?.['application/json'] as { schema?: unknown } | undefined)?.schema;
  const isZodSchema = (s: unknown): s is z.ZodType => typeof (s as z.ZodType | undefined)?.safeParse === 'function';
  const implied: ErrorCode[] = ['unauthenticated', 'internal', 'db_unavailable', 'idp_unavailable', ...refusalCodes(action)];
  if (UNSAFE.has(route.method)) implied.push('csrf_failed');
  if (route.request?.params || route.request?.query || body) implied.push('bad_request');
  if (body) implied.push('payload_too_large');
  const own = Array.isArray(route.middleware) ? route.middleware : route.middleware ? [route.middleware] : [];
  const rule = actions[action];
  const isPublicRoute = whoRules[rule.who].anonymous;
  return createRoute<P, Omit<R, 'action'>>({
    ...route,
    ...(isPublicRoute ? { security: [] } : {}),
    'x-access': { action, who: whoRules[rule.who].text, refusalsRecorded: rule.recorded },
    middleware: [guard(action), ...(jsonSchema ? [jsonInput] : []), ...own],
    request: route.request && {
      ...route.request,
      ...(body && isZodSchema(jsonSchema) ? { body: { required: !jsonSchema.safeParse({}).success, ...body } } : {}),
    },
    responses: withImplied(route.responses, implied),
  } as Omit<R, 'action'>);
}

/** The route's responses plus the implied error codes (merged into a status it already declares). */
function withImplied(responses: RouteConfig['responses'], implied: ErrorCode[]): RouteConfig['responses'] {
  const declared = Object.values(responses).flatMap((r) => codesOfResponse.get(r) ?? []);
  const out: RouteConfig['responses'] = { ...errorResponses(...implied), ...responses };
  for (const [status, merged] of Object.entries(errorResponses(...implied, ...declared))) {
    const own = responses[status];
    // A status the route documents itself without errorResponses is left as the route wrote it.
    if (!own || codesOfResponse.has(own)) out[status] = merged;
  }
  return out;
}

/** A JSON response of `schema`, for `responses: { 200: json(schema, 'what it is') }`. */
export const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

// --- The document ----------------------------------------------------------------------------------

export const API_TITLE = 'FDWG Access Gate API';
export const API_VERSION: string = pkg.version;

const API_DESCRIPTION = `The gate's JSON API: the same services as its pages.

Authenticate with the browser session cookie (\`${SESSION_COOKIE}\`; cross-site requests are refused)
or with \`Authorization: Bearer <gate token>\`. Every answer is JSON with \`Cache-Control: no-store\`;
every error is \`{ "error": { "code", "message", "requestId", "details"? } }\`. Bad input is a 400
that names the field; a body over ${MAX_BODY_BYTES} bytes is a 413, refused before it is parsed; JSON
numbers must be numbers (not strings); a database or the identity provider that does not answer is a 503.`;

const tags = [
  { name: 'Account', description: 'Who you are, the data-use agreement, warehouse credentials.' },
  { name: 'PII requests', description: 'FDWG members ask for time-bounded access to PII datasets.' },
  { name: 'Approvals', description: 'Approvers decide requests; approvers and admins end live access early.' },
  { name: 'Access log', description: 'Auditors only: the hash-chained audit log.' },
  { name: 'Command line', description: 'The `fdwg` CLI signs in (loopback or device style) for a gate token, and ends it.' },
  { name: 'Reference', description: 'This documentation.' },
];

const documents = new WeakMap<OpenAPIHono<AppEnv>, () => OpenAPIDocument>();

/**
 * The OpenAPI 3.1 document of everything mounted on `api` (served under /api), built on first use:
 * by then every sub-app, whoever wrote it, is mounted. One per `api`.
 */
export function apiDocument(api: OpenAPIHono<AppEnv>, config: Pick<AppConfig, 'publicUrl'>): () => OpenAPIDocument {
  const known = documents.get(api);
  if (known) return known;
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: '`Authorization: Bearer <gate token>`.',
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'cookieAuth', {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: 'The browser session after signing in at /auth/login (cross-site requests are refused).',
  });
  let doc: OpenAPIDocument | undefined;
  const build = (): OpenAPIDocument => {
    if (doc) return doc;
    const relative = api.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: API_TITLE, version: API_VERSION, description: API_DESCRIPTION },
      servers: [{ url: config.publicUrl }],
      security: [{ bearerAuth: [] }, { cookieAuth: [] }],
      tags,
    });
    // The registry holds paths relative to the API app, which is served under /api.
    const paths = Object.fromEntries(Object.entries(relative.paths ?? {}).map(([p, item]) => [p === '/' ? '/api' : `/api${p}`, item]));
    doc = { ...relative, paths };
    return doc;
  };
  documents.set(api, build);
  return build;
}

const served = new WeakMap<Hono<AppEnv>, OpenAPIHono<AppEnv>>();

/**
 * Serves `api` under /api and its document at GET /openapi.json (public). Call it once every /api
 * sub-app is mounted on `api`: hono copies routes when they are mounted.
 */
export function serveApi(app: Hono<AppEnv>, api: OpenAPIHono<AppEnv>, config: Pick<AppConfig, 'publicUrl'>): void {
  const document = apiDocument(api, config);
  app.route('/api', api);
  app.get('/openapi.json', guard('public'), (c) => c.json(document()));
  served.set(app, api);
}

/** The API app `serveApi` mounted on `app` (tests read its route schemas). */
export const servedApi = (app: Hono<AppEnv>): OpenAPIHono<AppEnv> | undefined => served.get(app);

export type OpenAPIDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

export { z };
