// How the gate writes a moment for people: always UTC, never the reader's zone.

/** `2026-01-31 17:00:05 UTC` (the pages). */
export const utcSeconds = (d: Date | string): string => new Date(d).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/** `2026-01-31 17:00 UTC` (notices and the command line). */
export const utcMinutes = (d: Date | string | number): string => `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
