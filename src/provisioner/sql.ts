// Identifier and literal quoting for utility statements (CREATE/ALTER/GRANT ROLE take no bind
// parameters). Same rules as pg's escapeIdentifier/escapeLiteral, kept here so SQL can be built
// and printed without a connection.
export function quoteIdent(name: string): string {
  if (name.length === 0 || new TextEncoder().encode(name).length > 63 || name.includes('\0')) {
    throw new Error(`not a valid PostgreSQL identifier: ${JSON.stringify(name)}`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('literal contains a NUL byte');
  // Standard-conforming strings are on by default; backslashes are doubled in E'' form anyway.
  const hasBackslash = value.includes('\\');
  const body = value.replace(/'/g, "''").replace(/\\/g, '\\\\');
  return hasBackslash ? `E'${body}'` : `'${body}'`;
}

/** PostgreSQL 16 gave GRANT its WITH INHERIT/SET/ADMIN options; older servers need other forms. */
export const supportsGrantOptions = (serverVersionNum: number) => serverVersionNum >= 160000;
