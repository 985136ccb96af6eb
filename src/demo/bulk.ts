// Column-wise batches inserted with parameterised statements of the form
//   INSERT INTO t (a, b) SELECT * FROM unnest($1::int[], $2::text[])
// One parse and one round trip per few thousand rows, and values never touch the SQL text.
import type pg from 'pg';

export type Cell = string | number | boolean | null;
export type ColumnSpec = ReadonlyArray<readonly [name: string, pgType: string]>;

export class ColumnBatch {
  private readonly columns: Cell[][];

  /** `table` and the column names/types are code constants, never data. */
  constructor(
    readonly table: string,
    readonly spec: ColumnSpec,
  ) {
    this.columns = spec.map(() => []);
  }

  get size(): number {
    return this.columns[0]?.length ?? 0;
  }

  push(...row: Cell[]): void {
    if (row.length !== this.columns.length) throw new Error('row width does not match the batch');
    row.forEach((v, i) => (this.columns[i] as Cell[]).push(v));
  }

  /** The INSERT, with its arrays numbered from $<firstParam>. */
  insertSql(firstParam = 1): string {
    const names = this.spec.map(([n]) => n).join(', ');
    const arrays = this.spec.map(([, t], i) => `$${firstParam + i}::${t}[]`).join(', ');
    return `INSERT INTO ${this.table} (${names}) SELECT * FROM unnest(${arrays})`;
  }

  /** Removes and returns the buffered rows, one array per column. */
  take(): Cell[][] {
    return this.columns.map((c) => c.splice(0));
  }
}

/**
 * Sends several batches as ONE statement (data-modifying CTEs, all executed regardless of the
 * final SELECT): a single round trip lets PostgreSQL work on the whole batch while the caller
 * generates the next one.
 */
export function flushTogether(db: pg.ClientBase, batches: readonly ColumnBatch[]): Promise<unknown> {
  const parts: string[] = [];
  const values: Cell[][] = [];
  for (const b of batches) {
    parts.push(`i${parts.length} AS (${b.insertSql(values.length + 1)})`);
    values.push(...b.take());
  }
  return db.query(`WITH ${parts.join(',\n')}\nSELECT 1`, values);
}

export async function flush(db: pg.ClientBase, batch: ColumnBatch): Promise<void> {
  if (batch.size > 0) await db.query(batch.insertSql(), batch.take());
}
