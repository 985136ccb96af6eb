// Exports of a filtered set of events as CSV (RFC 4180) or JSON Lines, streamed: the body is a web
// ReadableStream that fetches the next keyset batch only when the consumer asks for more (pull), so
// memory stays at about one batch however large the log is. The set is fixed when the export
// starts: batches walk down from the newest event present then, events appended meanwhile are not
// included.
import type { ControlDb } from '../db/client.js';
import { canonicalJson } from './chain.js';
import { type AuditRecord, eventsById } from './dal.js';
import { type AuditFilter, auditWhere } from './filters.js';

export type ExportFormat = 'csv' | 'jsonl';

export const EXPORT_COLUMNS = ['id', 'at', 'actor', 'subject', 'action', 'request_id', 'dataset', 'details', 'prev_hash', 'hash'] as const;
export const EXPORT_BATCH = 2000;

export const exportContentType: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  jsonl: 'application/jsonl; charset=utf-8',
};

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with = + - @, or a tab or
 * carriage return that some of them skip first) gets a leading apostrophe; then RFC 4180 quoting.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : typeof value === 'object' ? canonicalJson(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const csvLine = (cells: unknown[]) => `${cells.map(csvCell).join(',')}\r\n`;

const exportRecord = (r: AuditRecord) => ({
  id: r.id,
  at: r.at,
  actor: r.actor,
  subject: r.subject,
  action: r.action,
  request_id: r.requestId,
  dataset: r.dataset,
  details: r.details,
  prev_hash: r.prevHash,
  hash: r.hash,
});

export function encodeRecord(format: ExportFormat, r: AuditRecord): string {
  const o = exportRecord(r);
  return format === 'csv' ? csvLine(EXPORT_COLUMNS.map((k) => o[k])) : `${JSON.stringify(o)}\n`;
}

export interface ExportOptions {
  batchSize?: number;
  /** Called after each batch query with its row count (for tests and metrics). */
  onBatch?: (rows: number) => void;
}

/**
 * Opens an export. The first batch is read before this resolves, so a failing query is still an
 * ordinary error response; later failures can only abort the stream.
 */
export async function openExport(
  db: ControlDb,
  filter: AuditFilter,
  format: ExportFormat,
  opts: ExportOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const batchSize = opts.batchSize ?? EXPORT_BATCH;
  const encoder = new TextEncoder();
  let before: number | undefined;
  const fetchBatch = async () => {
    const rows = await eventsById(db, auditWhere(filter, before), 'newest', batchSize);
    opts.onBatch?.(rows.length);
    return rows;
  };

  let pending: AuditRecord[] | null = await fetchBatch();
  let header = format === 'csv' ? csvLine([...EXPORT_COLUMNS]) : '';

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const rows = pending ?? (await fetchBatch());
        pending = null;
        let text = header;
        header = '';
        for (const r of rows) text += encodeRecord(format, r);
        if (text) controller.enqueue(encoder.encode(text));
        if (rows.length < batchSize) controller.close();
        else before = rows.at(-1)!.id;
      },
    },
    // One encoded batch may wait in the queue; the next is fetched only when that one is taken.
    { highWaterMark: 1 },
  );
}

/** `fdwg-audit-20261123T101500Z.csv` */
export const exportFilename = (format: ExportFormat, now = new Date()) =>
  `fdwg-audit-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.${format}`;
