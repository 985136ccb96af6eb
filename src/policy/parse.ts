// Runtime-agnostic: parses policy text (Node reads it from policies/, Workers bundle it as text).
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Policy, policySchema } from './schema.js';

export class PolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid policy:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

/** Parses and validates `text`; every problem names file, line and field. */
export function parsePolicy(fileName: string, text: string, readAgreement: (file: string) => string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => `${fileName}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
    );
  }
  const result = policySchema.safeParse(doc.toJS());
  if (!result.success) throw new PolicyError(result.error.issues.map((i) => describeIssue(fileName, doc, lines, i)));
  let agreementText: string;
  try {
    agreementText = readAgreement(result.data.agreement.file);
  } catch {
    throw new PolicyError([`${fileName}: agreement.file: cannot read ${result.data.agreement.file}`]);
  }
  return { ...result.data, agreementText, sourceText: text };
}

function describeIssue(fileName: string, doc: ReturnType<typeof parseDocument>, lines: LineCounter, issue: z.core.$ZodIssue) {
  const field = issue.path.join('.') || '(root)';
  // Point at the nearest node that exists: a missing field is reported at its parent.
  let line = 1;
  for (let n = issue.path.length; n >= 0; n--) {
    const node = doc.getIn(issue.path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      line = lines.linePos(node.range[0]).line;
      break;
    }
  }
  return `${fileName}:${line}: ${field}: ${issue.message}`;
}
