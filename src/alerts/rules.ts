// The policy's alert rules applied to one ingested PII statement. Pure: what the statement did
// (tables, command, text, time, the grant it was made under) and two facts the evaluator looked up
// (reads in the hour, the grant's end) go in; the rules that fire come out.
import type { AlertRule } from '../policy/schema.js';

export interface StatementFacts {
  /** When PostgreSQL logged the statement. */
  at: Date;
  /** PII tables it touched (schema.table). */
  objects: string[];
  /** pgaudit's command: SELECT, COPY... */
  command: string;
  /** The text as logged (may be empty when pgaudit.log_statement is off). */
  statement: string;
}

export interface StatementContext {
  /** PII statements of the same analyst in the hour up to `at`, this one included; null: unknown login. */
  readsInHour: number | null;
  /** When the grant the read was made under ends (the earlier of expiry and end); null: no grant. */
  grantEndsAt: Date | null;
}

export interface AlertHit {
  rule: string;
  kind: AlertRule['kind'];
  /** One plain sentence for the auditor and the webhook: never a value from the statement. */
  reason: string;
}

/**
 * The statement with comments, string literals and quoted identifiers blanked, so that a keyword
 * inside `'… where …'` or `"where"` is not taken for the clause. Dollar quotes count as literals.
 */
export function sqlSkeleton(text: string): string {
  return text.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$|'(?:[^']|'')*'|"(?:[^"]|"")*"/g, ' _ ');
}

const hasWhere = (skeleton: string) => /\bwhere\b/i.test(skeleton);
const isCopyOut = (f: StatementFacts, skeleton: string) => f.command.toUpperCase() === 'COPY' || /^\s*copy\b[\s\S]*\bto\b/i.test(skeleton);

const minutes = (seconds: number) => (seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);

export function evaluateRules(rules: readonly AlertRule[], f: StatementFacts, ctx: StatementContext): AlertHit[] {
  if (rules.length === 0) return [];
  const skeleton = sqlSkeleton(f.statement);
  const tables = f.objects.join(', ');
  const hits: AlertHit[] = [];
  for (const rule of rules) {
    switch (rule.kind) {
      case 'statements_per_hour':
        // Fires once, on the statement that crosses the threshold, not on every one after it.
        if (ctx.readsInHour === rule.max + 1) {
          hits.push({ rule: rule.name, kind: rule.kind, reason: `more than ${rule.max} PII statements by one analyst within an hour` });
        }
        break;
      case 'no_where_clause':
        // Without the text (log_statement off) nothing can be said about the clause.
        if (f.statement.trim() !== '' && f.statement !== '<not logged>' && !hasWhere(skeleton) && !isCopyOut(f, skeleton)) {
          hits.push({ rule: rule.name, kind: rule.kind, reason: `a statement without a WHERE clause read ${tables}` });
        }
        break;
      case 'copy_out':
        if (isCopyOut(f, skeleton)) hits.push({ rule: rule.name, kind: rule.kind, reason: `COPY out of ${tables}` });
        break;
      case 'grant_ending':
        if (ctx.grantEndsAt && ctx.grantEndsAt.getTime() - f.at.getTime() <= rule.within * 1000 && f.at < ctx.grantEndsAt) {
          hits.push({ rule: rule.name, kind: rule.kind, reason: `a read of ${tables} in the last ${minutes(rule.within)} of its grant` });
        }
        break;
    }
  }
  return hits;
}
