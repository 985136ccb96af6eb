// Column-wise batches inserted with one parameterised statement each:
//   INSERT INTO t (a, b) SELECT * FROM unnest($1::int[], $2::text[])
// One round trip and one parse per few thousand rows, and values never touch the SQL text.
import type pg from 'pg';

export type Cell = string | number | boolean | null;

export class ColumnBatch {
  private readonly columns: Cell[][];
  private readonly sql: string;

  /** `table` and the column names/types are code constants, never data. */
  constructor(table: string, spec: ReadonlyArray<readonly [name: string, pgType: string]>) {
    this.columns = spec.map(() => []);
    const names = spec.map(([n]) => n).join(', ');
    const arrays = spec.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ');
    this.sql = `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${arrays})`;
  }

  get size(): number {
    return this.columns[0]?.length ?? 0;
  }

  push(...row: Cell[]): void {
    if (row.length !== this.columns.length) throw new Error('row width does not match the batch');
    row.forEach((v, i) => (this.columns[i] as Cell[]).push(v));
  }

  /** Sends the rows (if any) and empties the batch. */
  flush(db: pg.ClientBase): Promise<unknown> {
    if (this.size === 0) return Promise.resolve();
    const values = this.columns.map((c) => c.splice(0));
    return db.query(this.sql, values);
  }
}
