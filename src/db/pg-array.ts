/**
 * A PostgreSQL array literal, sent as one parameter and cast in SQL (`${pgArray(xs)}::text[]`).
 * drizzle's sql template would spread a JS array into a list of parameters instead. Every element
 * is quoted and escaped; null stays NULL.
 */
export function pgArray(values: ReadonlyArray<string | number | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}
