// Reads Prometheus text exposition into `name{label="v",...}` -> value (labels sorted), so a test
// can compare scrapes before and after a flow.
export type Scrape = Map<string, number>;

const key = (name: string, labels: Record<string, string>) => {
  const l = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return l.length ? `${name}{${l.map(([k, v]) => `${k}="${v}"`).join(',')}}` : name;
};

export function parsePrometheus(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    if (out.has(key(m[1]!, labels))) throw new Error(`sample twice: ${line}`);
    out.set(key(m[1]!, labels), Number(m[3]));
  }
  return out;
}

/** A sample's value (0 when the series does not exist yet, as for a counter never incremented). */
export const sample = (s: Scrape, name: string, labels: Record<string, string> = {}) => s.get(key(name, labels)) ?? 0;
