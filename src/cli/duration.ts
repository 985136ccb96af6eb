// Durations on the command line: `90s`, `45m`, `8h`, `7d`, `2w`, or combined (`1h30m`, `1d12h`).
// A bare number is refused: `--for 7` could mean seconds or days, and a wrong guess grants too much.

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
const PART = /(\d+)\s*([smhdw])/gy;

export class DurationError extends Error {}

/** Seconds in `text`; throws a DurationError that says what a valid value looks like. */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  const example = 'a number with a unit (s, m, h, d, w), e.g. 8h, 90m, 7d or 1h30m';
  if (/^\d+$/.test(s)) throw new DurationError(`"${text}" has no unit: give ${example}`);
  if (s === '') throw new DurationError(`empty duration: give ${example}`);
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
    at = PART.lastIndex;
  }
  if (at !== s.length || at === 0) throw new DurationError(`"${text}" is not a duration: give ${example}`);
  if (!Number.isSafeInteger(total)) throw new DurationError(`"${text}" is too long`);
  if (total === 0) throw new DurationError(`"${text}" is zero: give a positive duration`);
  return total;
}

/** `28800` → `8h`, `93600` → `1d 2h`, `90` → `1m 30s`: at most two units, largest first. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  let rest = Math.max(0, Math.round(seconds));
  if (rest === 0) return '0s';
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}
