// Datanommer-shaped source messages: message number k, with its id, time, UUID and headers;
// the body comes from the category generators.
import { CATEGORIES } from './categories.js';
import { type Draft, type GeneratorContext, Scene } from './scene.js';
import type { JsonObject, SourceMessage } from './types.js';

export type { GeneratorContext } from './scene.js';

/** Messages are spread evenly (with jitter) over 2024-01-01 .. 2025-12-31, UTC. */
export const EPOCH_START_MS = Date.UTC(2024, 0, 1);
export const EPOCH_END_MS = Date.UTC(2026, 0, 1);

/** Message number `k` (0-based) of `ctx.total`; must be called for k = 0, 1, 2 ... in order. */
export function generateMessage(ctx: GeneratorContext, k: number): SourceMessage {
  const { prng } = ctx;
  const span = EPOCH_END_MS - EPOCH_START_MS;
  // Evenly spaced slots with jitter inside each slot: sorted by construction, so id order is
  // timestamp order as in the real archive.
  const ms = EPOCH_START_MS + Math.floor(((k + prng.next()) * span) / ctx.total);
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:02:29.343Z
  // Extra sub-millisecond digits so timestamps look like real (microsecond) ones.
  const timestamp = `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(prng.int(1000)).padStart(3, '0')}`;
  const msgId = prng.uuid();
  const roll = prng.next();
  const make = (CATEGORIES.find(([w]) => roll < w) ?? CATEGORIES[0])?.[1] as (s: Scene) => Draft;
  const d = make(new Scene(ctx, `${iso.slice(0, 23)}+00:00`));

  const headers: JsonObject = {
    fedora_messaging_schema: d.schema,
    fedora_messaging_severity: 20,
    priority: 0,
    'sent-at': `${iso.slice(0, 23)}+00:00`,
  };
  for (const u of d.users) headers[`fedora_messaging_user_${u}`] = true;
  for (const p of d.packages) headers[`fedora_messaging_rpm_${p}`] = true;
  for (const g of d.groups ?? []) headers[`fedora_messaging_group_${g}`] = true;

  return {
    id: k + 1,
    msgId,
    i: 1,
    topic: d.topic,
    timestamp,
    category: d.topic.split('.')[3] as string,
    agentName: d.agent,
    sourceName: d.source[0],
    sourceVersion: d.source[1],
    msg: d.msg,
    headers,
    usernames: d.users,
    packages: d.packages,
  };
}
