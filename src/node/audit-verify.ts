// Node-only: `npm run audit:verify` walks the access log's hash chain and reports the first broken
// link. Connects as CONTROL_DATABASE_URL (or DATABASE_URL); without either, to the running embedded
// demo cluster as the gate's login (password from DATA_DIR/secrets.json), like `npm start` does.
//
// Exit codes: 0 chain intact, 1 chain broken, 2 could not verify (no connection, no table, ...).
// A command only (it reads the environment and prints); the work is in src/audit/verify-node.ts
// and src/node/anchoring.ts.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChainStatus } from '../audit/verify.js';
import { verifyChainNode } from '../audit/verify-node.js';
import { createPool } from '../db/client.js';
import { urlWith } from './databases.js';
import { anchorKey, checkAnchorFile } from './anchoring.js';
import { readDemoSecrets } from './secrets.js';

class TargetError extends Error {}

/** Where to connect, and a description without the password. */
function controlTarget(env: Record<string, string | undefined>): { url: string; describe: string } {
  const explicit = env.CONTROL_DATABASE_URL || env.DATABASE_URL;
  if (explicit) {
    const u = new URL(explicit);
    u.password = u.password ? '***' : '';
    return { url: explicit, describe: u.toString() };
  }
  // Embedded demo: the names src/node/main.ts gives things.
  const dataDir = path.resolve(env.DATA_DIR || '.data');
  const secrets = readDemoSecrets(dataDir);
  if (!secrets?.gatePassword) {
    throw new TargetError(
      `no CONTROL_DATABASE_URL or DATABASE_URL, and no embedded demo in ${dataDir} (run \`npm start\` first, or set CONTROL_DATABASE_URL)`,
    );
  }
  const port = Number(env.EMBEDDED_PG_PORT || 54329);
  const user = `${env.ROLE_PREFIX || 'fdwg_'}gate`;
  const url = urlWith(`postgres://127.0.0.1:${port}/`, 'fdwg_control', user, secrets.gatePassword);
  return { url, describe: `embedded demo cluster postgres://${user}@127.0.0.1:${port}/fdwg_control` };
}

/**
 * Where the anchors are and the key that signed them: AUDIT_ANCHOR_FILE + AUDIT_ANCHOR_SECRET, or
 * the embedded demo's (DATA_DIR/anchors.jsonl, secret in DATA_DIR/secrets.json). Null: none kept.
 */
function anchorSource(env: Record<string, string | undefined>): { file: string; key: Uint8Array } | null {
  if (env.AUDIT_ANCHOR_FILE && env.AUDIT_ANCHOR_SECRET) return { file: env.AUDIT_ANCHOR_FILE, key: anchorKey(env.AUDIT_ANCHOR_SECRET) };
  if (env.CONTROL_DATABASE_URL || env.DATABASE_URL) return null;
  const dataDir = path.resolve(env.DATA_DIR || '.data');
  const anchorSecret = readDemoSecrets(dataDir)?.anchorSecret;
  return anchorSecret ? { file: path.join(dataDir, 'anchors.jsonl'), key: anchorKey(anchorSecret) } : null;
}

function formatStatus(s: ChainStatus): string {
  if (s.firstBroken) {
    const b = s.firstBroken;
    return `chain BROKEN at event ${b.id}: expected ${b.expected} found ${b.found} (${b.reason})`;
  }
  if (s.headId === null) return 'chain intact: 0 events (the log is empty)';
  return `chain intact: ${s.checked} events, head ${s.headId} ${s.headHash}`;
}

async function main(): Promise<number> {
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const note = (s: string) => process.stderr.write(`${s}\n`);
  let target: { url: string; describe: string };
  try {
    target = controlTarget(process.env);
  } catch (err) {
    note(`audit:verify: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const pool = createPool(target.url, 1, { connectionTimeoutMillis: 5_000 });
  try {
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      note(`audit:verify: cannot connect to ${target.describe}: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }
    note(`Verifying the access log in ${target.describe}...`);
    const started = performance.now();
    let lastShown = started;
    let status: ChainStatus;
    try {
      status = await verifyChainNode(pool, {
        onProgress: (checked) => {
          const now = performance.now();
          if (now - lastShown < 1000) return;
          lastShown = now;
          const rate = checked / ((now - started) / 1000);
          note(`  ${checked.toLocaleString('en')} events checked (${Math.round(rate).toLocaleString('en')}/s)`);
        },
      });
    } catch (err) {
      note(`audit:verify: could not verify: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }
    say(formatStatus(status));
    note(`(${status.checked.toLocaleString('en')} events in ${status.seconds.toFixed(2)} s)`);
    // An intact chain can still be a shortened one: the anchors say whether its tail was cut.
    const anchors = anchorSource(process.env);
    if (!anchors) {
      note('no anchors configured (AUDIT_ANCHOR_FILE, AUDIT_ANCHOR_SECRET): a cut tail would go unnoticed');
      return status.ok ? 0 : 1;
    }
    const a = await checkAnchorFile(pool, anchors.file, anchors.key, status);
    if (!a.ok) {
      say(`anchors FAILED: ${a.detail}`);
      return 1;
    }
    say(a.newest ? `anchors ok: ${a.anchors} in ${anchors.file}, newest head ${a.newest.anchor.headId} (${a.newest.anchor.at}) present` : `anchors: none yet in ${anchors.file}`);
    return status.ok ? 0 : 1;
  } finally {
    await pool.end().catch(() => {});
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      // One line: a lost connection or a refused read is the operator's to act on, not a bug report.
      process.stderr.write(`audit:verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
