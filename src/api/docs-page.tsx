// GET /api/docs: the OpenAPI document as a page a person can read, rendered here on the server
// (the CSP allows no outside scripts, and a reference needs none): every operation with its
// parameters, body fields and answers, grouped by tag.
import { html, raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { OpenAPIDocument } from './openapi.js';

type Schema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  example?: unknown;
  examples?: unknown[];
};
type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: Schema; example?: unknown };
type Media = { schema?: Schema };
type Operation = {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; description?: string; content?: Record<string, Media> };
  responses?: Record<string, { description?: string; content?: Record<string, Media> }>;
};

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** `code` spans of a description, the rest as text (hono/jsx escapes it). */
function inline(text: string | undefined): Child[] {
  if (!text) return [];
  return text.split(/`([^`]+)`/).map((part, i) => (i % 2 === 1 ? <code>{part}</code> : part));
}

const paragraphs = (text: string | undefined) =>
  (text ?? '')
    .split(/\n\s*\n/)
    .filter((p) => p.trim() !== '')
    .map((p) => <p>{inline(p.replace(/\s*\n\s*/g, ' '))}</p>);

/** Reads schemas of one document: `$ref`s resolved, types put in words. */
function schemaReader(doc: OpenAPIDocument) {
  const components = (doc.components?.schemas ?? {}) as Record<string, Schema>;
  const refName = (s: Schema) => s.$ref?.replace('#/components/schemas/', '');
  const resolve = (s: Schema | undefined): Schema => {
    for (let depth = 0; s?.$ref && depth < 10; depth++) s = components[refName(s)!];
    return s ?? {};
  };
  /** The alternatives of a nullable or union schema, `null` set apart. */
  const variants = (s: Schema): { options: Schema[]; nullable: boolean } => {
    const list = s.anyOf ?? s.oneOf;
    if (list) {
      const options = list.filter((o) => o.type !== 'null');
      return { options, nullable: options.length < list.length };
    }
    if (Array.isArray(s.type)) {
      const types = s.type.filter((t) => t !== 'null');
      return { options: types.map((t) => ({ ...s, type: t })), nullable: types.length < s.type.length };
    }
    return { options: [s], nullable: false };
  };
  const words = (s: Schema): string => {
    const name = refName(s);
    const r = resolve(s);
    const { options, nullable } = variants(r);
    const one = (o: Schema): string => {
      if (o.$ref) return words(o);
      if (o.const !== undefined) return JSON.stringify(o.const);
      if (o.enum) return o.enum.map((v) => JSON.stringify(v)).join(' | ');
      if (o.type === 'array') {
        const count = o.minItems !== undefined || o.maxItems !== undefined ? `, ${o.minItems ?? 0} to ${o.maxItems ?? 'any number of'} items` : '';
        return `array of ${o.items ? words(o.items) : 'anything'}${count}`;
      }
      if (o.type === 'object' || o.properties) return name ?? 'object';
      const limits: string[] = [];
      if (o.format) limits.push(o.format);
      if (o.minimum !== undefined && o.maximum !== undefined) limits.push(`${o.minimum} to ${o.maximum}`);
      else if (o.minimum !== undefined) limits.push(`≥ ${o.minimum}`);
      else if (o.exclusiveMinimum !== undefined) limits.push(`> ${o.exclusiveMinimum}`);
      else if (o.maximum !== undefined) limits.push(`≤ ${o.maximum}`);
      if (o.maxLength !== undefined) limits.push(`${o.minLength ? `${o.minLength} to ` : 'at most '}${o.maxLength} characters`);
      else if (o.minLength) limits.push(`at least ${o.minLength} characters`);
      return `${o.type ?? 'any'}${limits.length ? ` (${limits.join(', ')})` : ''}`;
    };
    const base = options.map(one).join(' or ') || 'any';
    return nullable ? `${base} or null` : base;
  };
  /** The object behind a schema (through nullable, arrays and refs), if there is one. */
  const objectOf = (s: Schema): { obj: Schema; suffix: string } | undefined => {
    const r = resolve(s);
    const [first] = variants(r).options;
    if (!first) return undefined;
    const f = resolve(first);
    if (f.type === 'array' && f.items) {
      const inner = objectOf(f.items);
      return inner && { obj: inner.obj, suffix: `[]${inner.suffix}` };
    }
    return f.properties ? { obj: f, suffix: '' } : undefined;
  };
  /** The named schema behind a field (through nullable and arrays), if any: it is listed once, in Schemas. */
  const namedOf = (s: Schema): string | undefined => {
    if (s.$ref) return refName(s);
    const [first] = variants(s).options;
    if (!first) return undefined;
    if (first.$ref) return refName(first);
    return first.type === 'array' && first.items ? namedOf(first.items) : undefined;
  };
  type Field = { path: string; type: string; ref?: string; required: boolean; description?: string };
  /** The fields of an object schema; unnamed nested objects as `a.b` and `items[].c`, named ones by link. */
  const fields = (s: Schema, prefix = '', depth = 0): Field[] => {
    const found = objectOf(s);
    if (!found || depth > 4) return [];
    const out: Field[] = [];
    for (const [key, prop] of Object.entries(found.obj.properties ?? {})) {
      const path = `${prefix}${key}`;
      const ref = namedOf(prop);
      const description = prop.description ?? resolve(prop).description;
      out.push({ path, type: words(prop), ref, required: found.obj.required?.includes(key) ?? false, description });
      const child = ref ? undefined : objectOf(prop);
      if (child) out.push(...fields(prop, `${path}${child.suffix}.`, depth + 1));
    }
    return out;
  };
  return { resolve, words, fields, refName, components };
}

const css = `
:root{--fg:#1d2430;--muted:#5b6575;--line:#dde2ea;--bg:#f6f8fb;--card:#fff;--brand:#294172}
*{box-sizing:border-box}body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--brand);color:#fff}header .in{max-width:68rem;margin:0 auto;padding:.75rem 1.25rem;display:flex;gap:1rem;align-items:center;justify-content:space-between}
header a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:68rem;margin:1.5rem auto;padding:0 1.25rem}a{color:var(--brand)}
h1{font-size:1.6rem;margin:.2rem 0 .5rem}h2{font-size:1.3rem;margin:2rem 0 .75rem;padding-bottom:.3rem;border-bottom:2px solid var(--line)}
h3{font-size:1.05rem;margin:0 0 .4rem;display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}h4{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:1rem 0 .35rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.1rem 1.4rem;margin-bottom:1rem;scroll-margin-top:1rem}
.muted{color:var(--muted)}p{margin:.4rem 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em;background:#eef1f6;border-radius:4px;padding:.05rem .3rem;overflow-wrap:anywhere}
h3 code{font-size:.95rem;background:none;padding:0}
.m{display:inline-block;min-width:4.2rem;text-align:center;font:700 .75rem/1.6 ui-monospace,Menlo,monospace;border-radius:5px;padding:0 .4rem;color:#fff;background:#5b6575}
.m-get{background:#1f6feb}.m-post{background:#1a7f37}.m-delete{background:#b42318}.m-put,.m-patch{background:#9a6700}
table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:.78rem;text-transform:uppercase;letter-spacing:.03em}td.n{white-space:nowrap}td.t{color:#5b2a9e;font-size:.85rem}
.req{color:#b42318;font-size:.78rem;margin-left:.3rem}.s{font-weight:700;font-variant-numeric:tabular-nums}.s2{color:#1a7f37}.s4{color:#9a6700}.s5{color:#b42318}
details{margin:.2rem 0 .4rem}summary{cursor:pointer;color:var(--brand);font-size:.9rem}
nav.toc ul{list-style:none;padding:0;margin:.2rem 0 .8rem}nav.toc li{padding:.15rem 0}nav.toc a{text-decoration:none}nav.toc .m{min-width:3.8rem;font-size:.7rem;margin-right:.5rem}
.tag{font-weight:600;margin-top:.6rem}.pub{font-size:.78rem;background:#e6f4ea;color:#14632b;border-radius:999px;padding:0 .5rem}
`;

/** The reference page of `document`; styles carry the CSP nonce. */
export function DocsPage({ document: doc, nonce }: { document: OpenAPIDocument; nonce?: string }) {
  const read = schemaReader(doc);
  const operations: { id: string; method: string; path: string; op: Operation }[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = (item as Record<string, Operation | undefined>)[method];
      if (op) operations.push({ id: `${method}-${path.replace(/[^a-zA-Z0-9]+/g, '-')}`, method, path, op });
    }
  }
  const tagNames = [...(doc.tags ?? []).map((t) => t.name), ...operations.flatMap((o) => o.op.tags ?? [])];
  const groups = [...new Set([...tagNames, 'Other'])]
    .map((tag) => ({
      tag,
      description: doc.tags?.find((t) => t.name === tag)?.description,
      ops: operations.filter((o) => (o.op.tags?.[0] ?? 'Other') === tag),
    }))
    .filter((g) => g.ops.length > 0);
  // Error shapes are described once, above; the rest are listed under Schemas.
  const schemaNames = Object.keys(read.components)
    .filter((name) => !/^Error\d{3}$/.test(name))
    .sort();
  const schemes = Object.entries((doc.components?.securitySchemes ?? {}) as Record<string, { description?: string }>);
  const Method = ({ m }: { m: string }) => <span class={`m m-${m}`}>{m.toUpperCase()}</span>;

  const FieldTable = ({ schema }: { schema: Schema }) => {
    const rows = read.fields(schema);
    if (rows.length === 0) return <p class="muted">{read.words(schema)}</p>;
    return (
      <table>
        <thead>
          <tr>
            <th>Field</th>
            <th>Type</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((f) => (
            <tr>
              <td class="n">
                <code>{f.path}</code>
                {f.required ? <span class="req">required</span> : null}
              </td>
              <td class="t">{f.ref ? <a href={`#schema-${f.ref}`}>{f.type}</a> : f.type}</td>
              <td>{inline(f.description)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  };

  const OperationCard = ({ id, method, path, op }: (typeof operations)[number]) => {
    const isPublic = Array.isArray(op.security) && op.security.length === 0;
    const body = op.requestBody?.content?.['application/json']?.schema;
    return (
      <section class="card" id={id}>
        <h3>
          <Method m={method} />
          <code>{path}</code>
          {isPublic ? <span class="pub">no sign-in needed</span> : null}
        </h3>
        <p>
          <strong>{op.summary}</strong>
        </p>
        {paragraphs(op.description)}
        {op.parameters?.length ? (
          <>
            <h4>Parameters</h4>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>In</th>
                  <th>Type</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {op.parameters.map((p) => (
                  <tr>
                    <td class="n">
                      <code>{p.name}</code>
                      {p.required ? <span class="req">required</span> : null}
                    </td>
                    <td>{p.in}</td>
                    <td class="t">{p.schema ? read.words(p.schema) : ''}</td>
                    <td>
                      {inline(p.description ?? p.schema?.description)}
                      {p.example !== undefined || p.schema?.example !== undefined ? (
                        <span class="muted"> e.g. <code>{String(p.example ?? p.schema?.example)}</code></span>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
        {body ? (
          <>
            <h4>JSON body{op.requestBody?.required ? '' : ' (optional: an empty body is {})'}</h4>
            <FieldTable schema={body} />
          </>
        ) : null}
        <h4>Responses</h4>
        <table>
          <tbody>
            {Object.entries(op.responses ?? {}).map(([status, r]) => {
              const schema = r.content?.['application/json']?.schema;
              const success = status.startsWith('2');
              return (
                <tr>
                  <td class={`n s s${status[0]}`}>{status}</td>
                  <td>
                    {inline(r.description)}
                    {success && schema ? (
                      <details>
                        <summary>Fields of the answer ({read.words(schema)})</summary>
                        <FieldTable schema={schema} />
                      </details>
                    ) : null}
                    {success && !schema && r.content ? <span class="muted"> ({Object.keys(r.content).join(', ')})</span> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    );
  };

  const page = (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>API reference · {doc.info.title}</title>
        <link rel="icon" href="data:," />
        <style nonce={nonce}>{raw(css)}</style>
      </head>
      <body>
        <header>
          <div class="in">
            <a href="/">FDWG Access Gate</a>
            <a href="/openapi.json">openapi.json</a>
          </div>
        </header>
        <main>
          <h1>{doc.info.title}</h1>
          <p class="muted">
            Version {doc.info.version} · OpenAPI {doc.openapi} · base URL <code>{doc.servers?.[0]?.url ?? ''}</code> · machine-readable:{' '}
            <a href="/openapi.json">/openapi.json</a>
          </p>
          <section class="card">
            {paragraphs(doc.info.description)}
            <h4>Authentication</h4>
            <ul>
              {schemes.map(([name, s]) => (
                <li>
                  <code>{name}</code>: {inline(s.description)}
                </li>
              ))}
            </ul>
            <h4>Errors</h4>
            <p>
              Every error has the same shape: <code>{'{ "error": { "code", "message", "requestId", "details"? } }'}</code>. The status follows from
              the code; each operation lists the statuses it can answer.
            </p>
          </section>
          <nav class="toc card" aria-label="Operations">
            {groups.map((g) => (
              <>
                <div class="tag">{g.tag}</div>
                <ul>
                  {g.ops.map((o) => (
                    <li>
                      <a href={`#${o.id}`}>
                        <Method m={o.method} />
                        <code>{o.path}</code>
                      </a>{' '}
                      <span class="muted">{o.op.summary}</span>
                    </li>
                  ))}
                </ul>
              </>
            ))}
            <div class="tag">
              <a href="#schemas">Schemas</a>
            </div>
          </nav>
          {groups.map((g) => (
            <>
              <h2 id={`tag-${g.tag.replace(/[^a-zA-Z0-9]+/g, '-')}`}>{g.tag}</h2>
              {g.description ? <p class="muted">{inline(g.description)}</p> : null}
              {g.ops.map((o) => (
                <OperationCard {...o} />
              ))}
            </>
          ))}
          <h2 id="schemas">Schemas</h2>
          <p class="muted">The named shapes the operations above refer to.</p>
          {schemaNames.map((name) => (
            <section class="card" id={`schema-${name}`}>
              <h3>
                <code>{name}</code>
              </h3>
              {paragraphs(read.components[name]?.description)}
              <FieldTable schema={{ $ref: `#/components/schemas/${name}` }} />
            </section>
          ))}
        </main>
      </body>
    </html>
  );
  return html`<!doctype html>${page}`;
}
