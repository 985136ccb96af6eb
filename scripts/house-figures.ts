// The figures of issue 13 ("the house"), measured over src/: the largest source files, the SQL
// styles per domain, and the import cycles. Syntax only (TypeScript's parser, no type checking),
// so it also reads an older commit: `npx tsx scripts/house-figures.ts [--at <git revision>]`.
//
// What counts as a statement, and of which style (a control-database statement):
//   drizzle builder    .from(T) .insert(T) .update(T) .delete(T) where T is a table imported from
//                      db/schema (or a local alias of one)
//   sql template       .execute(...) whose argument holds a sql`...` template
//   pool.query string  .query(text, ...) on a pg pool or client (not hono's c.req.query), or
//                      new CopyOut(text), whose text names a control-database table
// A pool.query whose text names no control table (warehouse catalogs and DDL, transaction
// control, advisory locks, probes, statements built elsewhere) is counted apart as
// "warehouse/setup": the warehouse has no drizzle schema, and its role and grant statements stay
// quoted pool.query by design.
// A statement's text is read where it is written, or from a `const` string of the same file.
// Styles per domain (a folder under src/; files directly in src/ are "(top)"): every statement in
// a file named dal.ts counts as ONE style, "dal", whatever it uses inside (builder, typed
// templates, COPY and its snapshot's BEGIN/COMMIT); each kind used by statements in other files of
// the domain adds one style.
//
// Import cycles: relative imports and re-exports between files of src/ (`./x.js` resolves to
// x.ts, x.tsx or x/index.ts). `import type` and `export type` are erased, so they make no runtime
// edge; `import { type X }` still does under verbatimModuleSyntax. Dynamic import() is lazy and is
// left out. Cycles are the strongly connected components (Tarjan) with more than one file.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

type Files = Map<string, string>;

function filesFromTree(root: string): Files {
  const files: Files = new Map();
  const walk = (dir: string) => {
    for (const name of readdirSync(path.join(root, dir))) {
      const rel = `${dir}/${name}`;
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) files.set(rel, readFileSync(path.join(root, rel), 'utf8'));
    }
  };
  walk('src');
  return files;
}

function filesAtRevision(rev: string): Files {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const files: Files = new Map();
  for (const p of git('ls-tree', '-r', '--name-only', rev, '--', 'src').split('\n')) {
    if (/\.tsx?$/.test(p) && !p.endsWith('.d.ts')) files.set(p, git('show', `${rev}:${p}`));
  }
  return files;
}

const parse = (p: string, text: string) =>
  ts.createSourceFile(p, text, ts.ScriptTarget.Latest, true, p.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);

const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

// --- Statements ------------------------------------------------------------------------------------

type Kind = 'drizzle builder' | 'sql template' | 'pool.query string' | 'warehouse/setup';
interface Statement {
  file: string;
  line: number;
  kind: Kind;
}

/** The control database's table names, from db/schema.ts: pgTable('name', ...). */
function controlTables(files: Files): string[] {
  const schema = files.get('src/db/schema.ts') ?? '';
  return [...schema.matchAll(/pgTable\(\s*'([a-z_0-9]+)'/g)].map((m) => m[1]!);
}

/** The literal text of a statement argument, or null when it is built elsewhere. */
function literalText(node: ts.Expression): string | null {
  if (ts.isStringLiteralLike(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => ` ${s.literal.text}`).join('');
  if (ts.isObjectLiteralExpression(node)) {
    for (const p of node.properties) {
      if (ts.isPropertyAssignment(p) && p.name.getText() === 'text') return literalText(p.initializer);
    }
  }
  return null;
}

function holdsSqlTemplate(node: ts.Node): boolean {
  if (ts.isTaggedTemplateExpression(node) && node.tag.getText() === 'sql') return true;
  return ts.forEachChild(node, (c) => (holdsSqlTemplate(c) ? true : undefined)) ?? false;
}

function statementsOf(file: string, text: string, tables: string[]): Statement[] {
  const sf = parse(file, text);
  const tableNames = new RegExp(`\\b(${tables.join('|')})\\b`);
  const schemaIdents = new Set<string>();
  const copyVars = new Set<string>();
  const constTexts = new Map<string, ts.Expression>();
  for (const s of sf.statements) {
    if (ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && /(^|\/)(db\/)?schema\.js$/.test(s.moduleSpecifier.text)) {
      const spec = s.moduleSpecifier.text;
      if (!spec.endsWith('db/schema.js') && !(file.startsWith('src/db/') && spec === './schema.js')) continue;
      const named = s.importClause?.namedBindings;
      if (named && ts.isNamedImports(named)) for (const el of named.elements) schemaIdents.add(el.name.text);
    }
  }
  // Aliases (`const e = auditEvents`) and COPY objects (`const copy = new CopyOut(...)`).
  const collect = (n: ts.Node) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      if (ts.isIdentifier(n.initializer) && schemaIdents.has(n.initializer.text)) schemaIdents.add(n.name.text);
      if (ts.isNewExpression(n.initializer) && n.initializer.expression.getText() === 'CopyOut') copyVars.add(n.name.text);
      if (ts.isStringLiteralLike(n.initializer) || ts.isTemplateExpression(n.initializer)) constTexts.set(n.name.text, n.initializer);
    }
    ts.forEachChild(n, collect);
  };
  collect(sf);

  const out: Statement[] = [];
  const at = (n: ts.Node, kind: Kind) => out.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, kind });
  const rawKind = (arg: ts.Expression | undefined): Kind => {
    const text = arg && ts.isIdentifier(arg) ? constTexts.get(arg.text) : arg;
    const t = text ? literalText(text) : null;
    return t !== null && tableNames.test(t) ? 'pool.query string' : 'warehouse/setup';
  };
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) {
      const method = n.expression.name.text;
      const receiver = n.expression.expression.getText();
      const arg = n.arguments[0];
      if (['from', 'insert', 'update', 'delete'].includes(method) && arg && ts.isIdentifier(arg) && schemaIdents.has(arg.text)) {
        at(n.expression.name, 'drizzle builder');
      } else if (method === 'execute' && arg && holdsSqlTemplate(arg)) {
        at(n.expression.name, 'sql template');
      } else if (method === 'query' && arg && !/(^|\.)req$/.test(receiver) && !(ts.isIdentifier(arg) && copyVars.has(arg.text))) {
        at(n.expression.name, rawKind(arg));
      }
    } else if (ts.isNewExpression(n) && n.expression.getText() === 'CopyOut' && file !== 'src/db/copy-out.ts') {
      at(n, rawKind(n.arguments?.[0]));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const domainOf = (file: string) => {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : '(top)';
};

// --- Import cycles ---------------------------------------------------------------------------------

function runtimeImports(file: string, text: string, files: Files): string[] {
  const sf = parse(file, text);
  const specs: string[] = [];
  for (const s of sf.statements) {
    if (ts.isImportDeclaration(s) && !s.importClause?.isTypeOnly && ts.isStringLiteral(s.moduleSpecifier)) specs.push(s.moduleSpecifier.text);
    if (ts.isExportDeclaration(s) && !s.isTypeOnly && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier)) specs.push(s.moduleSpecifier.text);
  }
  const resolved: string[] = [];
  for (const spec of specs) {
    if (!spec.startsWith('.')) continue;
    const base = path.posix.join(path.posix.dirname(file), spec).replace(/\.(m?js|jsx)$/, '');
    const hit = [`${base}.ts`, `${base}.tsx`, `${base}/index.ts`, `${base}/index.tsx`].find((c) => files.has(c));
    if (hit) resolved.push(hit);
  }
  return resolved;
}

function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return found;
}

// --- Report ----------------------------------------------------------------------------------------

function main() {
  const i = process.argv.indexOf('--at');
  const rev = i > 0 ? process.argv[i + 1] : undefined;
  if (i > 0 && !rev) throw new Error('--at needs a git revision');
  const files = rev ? filesAtRevision(rev) : filesFromTree(process.cwd());
  const say = (s = '') => process.stdout.write(`${s}\n`);
  say(`House figures of src/ ${rev ? `at ${rev} (${execFileSync('git', ['rev-parse', '--short', rev], { encoding: 'utf8' }).trim()})` : 'in the working tree'}: ${files.size} files`);

  const sizes = [...files].map(([p, t]) => ({ p, n: lineCount(t) })).sort((a, b) => b.n - a.n);
  say();
  say('Largest source files (lines, as wc -l counts them):');
  for (const { p, n } of sizes.slice(0, 5)) say(`  ${String(n).padStart(5)}  ${p}`);

  const tables = controlTables(files);
  const statements = [...files].flatMap(([p, t]) => statementsOf(p, t, tables));
  const domains = new Map<string, Statement[]>();
  for (const f of files.keys()) domains.set(domainOf(f), []);
  for (const s of statements) domains.get(domainOf(s.file))!.push(s);

  say();
  say('SQL styles per domain (control database; every statement of a dal.ts is one style, "dal"):');
  let worst = 0;
  for (const [domain, list] of [...domains].sort(([a], [b]) => a.localeCompare(b))) {
    const isDal = (s: Statement) => path.posix.basename(s.file) === 'dal.ts';
    const control = list.filter((s) => isDal(s) || s.kind !== 'warehouse/setup');
    const setup = list.length - control.length;
    const styles = new Map<string, Statement[]>();
    for (const s of control) {
      const style = isDal(s) ? 'dal' : s.kind;
      styles.set(style, [...(styles.get(style) ?? []), s]);
    }
    if (control.length === 0 && setup === 0) continue;
    worst = Math.max(worst, styles.size);
    const parts = [...styles].map(([style, ss]) => {
      if (style === 'dal') return `dal (${ss.length})`;
      const where = new Map<string, number>();
      for (const s of ss) where.set(s.file, (where.get(s.file) ?? 0) + 1);
      return `${style} (${[...where].map(([f, n]) => `${f.replace(/^src\//, '')} ${n}`).join(', ')})`;
    });
    say(`  ${domain.padEnd(13)} ${String(styles.size)}  ${parts.join('; ') || '-'}${setup ? `   [+${setup} warehouse/setup]` : ''}`);
  }
  say(`  largest number of styles in one domain: ${worst}`);

  const graph = new Map<string, string[]>();
  for (const [p, t] of files) graph.set(p, runtimeImports(p, t, files));
  const found = cycles(graph);
  say();
  say(`Import cycles (runtime imports between files of src/): ${found.length}`);
  for (const c of found) say(`  ${c.join(' <-> ')}`);
}

main();
