// COPY ... TO STDOUT through pg's Submittable interface (no extra dependency): PostgreSQL's
// cheapest output path, one text line per row with no per-field driver work. Every line is handed
// over as bytes while the rows stream in; nothing is buffered beyond a partial line.
//
//   const copy = new CopyOut(`COPY (SELECT ...) TO STDOUT`, (bytes, start, end) => { ... });
//   client.query(copy); // a checked-out client: the query text is sent as is, without parameters
//   await copy.done;    // rejects with the server's error, or the first error onLine threw
//
// Used by the access log's chain walk (src/audit/verify.ts, its batches in src/audit/dal.ts).
import type pg from 'pg';

interface CopyConnection {
  query(text: string): void;
  sendCopyFail(msg: string): void;
}

/** Runs one COPY ... TO STDOUT and hands every line (bytes, without the newline) to `onLine`. */
export class CopyOut implements pg.Submittable {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;
  private failure: unknown;
  private rest: Uint8Array | null = null;

  constructor(
    private readonly text: string,
    private readonly onLine: (bytes: Uint8Array, start: number, end: number) => void,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: unknown): void {
    (connection as CopyConnection).query(this.text);
  }

  handleCopyData(msg: { chunk: Uint8Array }): void {
    if (this.failure) return;
    try {
      let chunk = msg.chunk;
      if (this.rest) {
        const joined = new Uint8Array(this.rest.length + chunk.length);
        joined.set(this.rest);
        joined.set(chunk, this.rest.length);
        chunk = joined;
        this.rest = null;
      }
      // PostgreSQL sends one row per CopyData message; split anyway, keeping any partial line.
      const n = chunk.length;
      if (n > 0 && chunk[n - 1] === 10 && chunk.indexOf(10) === n - 1) {
        this.onLine(chunk, 0, n - 1);
        return;
      }
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        this.onLine(chunk, start, nl);
        start = nl + 1;
      }
      if (start < n) this.rest = Uint8Array.prototype.slice.call(chunk, start); // a copy (Buffer#slice is a view)
    } catch (err) {
      this.failure = err;
    }
  }

  handleReadyForQuery(): void {
    if (this.failure) this.reject(this.failure);
    else if (this.rest) this.reject(new Error('COPY ended inside a line'));
    else this.resolve();
  }

  handleError(err: unknown): void {
    this.failure ??= err;
    this.reject(err);
  }

  handleCopyInResponse(connection: unknown): void {
    (connection as CopyConnection).sendCopyFail('not a COPY FROM');
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
}
