// Multi-row inserts with one parameter per table and batch:
//   INSERT INTO t ("a", "b") SELECT "a", "b" FROM jsonb_to_recordset($1::jsonb) AS r("a" int, "b" jsonb)
// The batch is one JSON document made by a single JSON.stringify. Compared with one array
// parameter per column (unnest), this avoids pg's per-element array escaping of JSON text
// (double escaping, lots of garbage) and PostgreSQL's array parsing; jsonb columns are copied
// out of the parsed document without being parsed again. Values never touch the SQL text.
import type pg from 'pg';

export type Cell = string | number | boolean | null | object;
export type ColumnSpec = ReadonlyArray<readonly [name: string, pgType: string]>;

export interface Batch {
  insertSql(param: number): string;
  take(): string;
}

export class RowBatch<Row extends Record<string, Cell>> implements Batch {
  private rows: Row[] = [];

  /** `table` and the column names/types are code constants, never data. */
  constructor(
    readonly table: string,
    readonly spec: ColumnSpec,
  ) {}

  get size(): number {
    return this.rows.length;
  }

  /** Keys of `row` must be the column names of `spec`; nested objects go to jsonb columns. */
  push(row: Row): void {
    this.rows.push(row);
  }

  insertSql(param: number): string {
    const names = this.spec.map(([n]) => `"${n}"`).join(', ');
    const record = this.spec.map(([n, t]) => `"${n}" ${t}`).join(', ');
    return `INSERT INTO ${this.table} (${names}) SELECT ${names} FROM jsonb_to_recordset($${param}::jsonb) AS r(${record})`;
  }

  /** Removes the buffered rows and returns them as the statement's parameter. */
  take(): string {
    const json = JSON.stringify(this.rows);
    this.rows = [];
    return json;
  }
}

/**
 * Sends several batches as ONE statement (data-modifying CTEs run to completion whatever the
 * final SELECT reads): a single round trip lets PostgreSQL store the whole batch while the
 * caller generates the next one, without ever queueing two queries on one client.
 */
export function flushTogether(db: pg.ClientBase, batches: readonly Batch[]): Promise<unknown> {
  const parts = batches.map((b, i) => `i${i} AS (${b.insertSql(i + 1)})`);
  return db.query(`WITH ${parts.join(',\n')}\nSELECT 1`, batches.map((b) => b.take()));
}

export async function flush(db: pg.ClientBase, batch: Batch): Promise<void> {
  await db.query(batch.insertSql(1), [batch.take()]);
}
