// Ending analysts' warehouse sessions and waiting until they are gone. pg_terminate_backend only
// sends a signal: the backend is still there (and can finish the statement it runs) until it
// handles it. Whoever records access as ended waits first, so the record never precedes the end.
// bench/pii-grants.ts measures its floor with these same two functions.

/** Anything that runs a parameterised query: a pool, a client. */
export interface Queryable {
  query<R extends Record<string, unknown>>(q: { text: string; values?: unknown[]; query_timeout?: number }): Promise<{ rows: R[] }>;
}

/**
 * The longest the server may take to answer the terminate query and to end the sessions. Ending a
 * thousand sessions at once keeps a 2-core server busy for seconds (each backend's exit runs while
 * the terminate query runs), longer than the serving pool's per-query limit allows: so these two
 * carry their own. Past it ending access fails, nothing is recorded, and the next sweep tries again.
 */
export const SESSION_END_WAIT_MS = 60_000;

/** One terminated backend: a pid alone could be reused by a new session while we wait. */
export interface EndedBackend {
  user: string;
  pid: number;
  /** backend_start as text with its UTC offset (microseconds; a JS Date would drop them). */
  started: string;
}

/**
 * Signals every session of `roles` (except the caller's own) to end; returns those it signalled.
 * pg_terminate_backend sits in the select list, so it runs only for rows the WHERE kept (a volatile
 * call in WHERE could be evaluated before the role filter).
 */
export async function terminateRoleSessions(db: Queryable, roles: string[]): Promise<EndedBackend[]> {
  if (roles.length === 0) return [];
  const { rows } = await db.query<{ user: string; pid: number; started: string; ended: boolean }>({
    text: `SELECT usename AS user, pid, backend_start::text AS started, pg_terminate_backend(pid) AS ended
             FROM pg_stat_activity WHERE usename = ANY($1) AND pid <> pg_backend_pid()`,
    values: [roles],
    query_timeout: SESSION_END_WAIT_MS,
  });
  return rows.filter((r) => r.ended).map(({ user, pid, started }) => ({ user, pid, started }));
}

/**
 * Returns once none of `backends` is listed in pg_stat_activity any more (a backend leaves it on
 * its way out, after its last statement). Polls with a short, growing pause: a few idle sessions
 * are gone within a millisecond, a thousand take as long as the server needs to end them.
 */
export async function waitUntilGone(db: Queryable, backends: EndedBackend[], timeoutMs = SESSION_END_WAIT_MS): Promise<void> {
  if (backends.length === 0) return;
  const pids = backends.map((b) => b.pid);
  const starts = backends.map((b) => b.started);
  const deadline = performance.now() + Math.max(timeoutMs, 1);
  for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
    const { rows } = await db.query<{ n: number }>({
      text: `SELECT count(*)::int AS n FROM pg_stat_activity a
              WHERE (a.pid, a.backend_start) IN (SELECT * FROM unnest($1::int[], $2::timestamptz[]))`,
      values: [pids, starts],
      query_timeout: SESSION_END_WAIT_MS,
    });
    const left = rows[0]?.n ?? 0;
    if (left === 0) return;
    if (performance.now() >= deadline) {
      throw new Error(`${left} of ${backends.length} terminated warehouse sessions still there after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
