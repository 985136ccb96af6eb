/**
 * Settles as `work` does or, after `ms`, rejects with `late()`. For outside calls that take no
 * signal of their own (a frozen database accepts the query and never answers; the OIDC library's
 * code exchange): the caller gets a prompt, clear failure instead of waiting as long as the outage.
 * A rejection of `work` after the deadline is swallowed: nobody is waiting for it any more.
 */
export function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
