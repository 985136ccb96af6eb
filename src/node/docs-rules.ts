// `npm run docs:rules`: writes the rule table (src/access/rules.ts, with the routes the app
// registers) into README.md between its markers. test/access-rules.test.ts fails until it is run
// after a change to the rules or the routes.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { readReadme, readmePath, readmeRuleTable, withRuleTable } from '../access/rule-table.js';

const before = readReadme();
const after = withRuleTable(before, readmeRuleTable());
const name = path.relative(process.cwd(), readmePath) || readmePath;
if (after === before) {
  process.stdout.write(`${name}: the rule table is current.\n`);
} else {
  writeFileSync(readmePath, after);
  process.stdout.write(`${name}: rule table rewritten.\n`);
}
