// Everything an analyst pastes into their own tools, derived from one credential.
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
}

export interface ConnectionSnippets {
  psql: string;
  uri: string;
  pgpass: string;
  serviceName: string;
  pgService: string;
}

// ~/.pgpass fields escape ':' and '\'.
const pgpassField = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

export function connectionSnippets(t: ConnectionTarget, role: string, password: string): ConnectionSnippets {
  const serviceName = 'fdwg';
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const enc = encodeURIComponent;
  return {
    // No password on the command line (it would land in shell history): psql reads ~/.pgpass or asks.
    psql: `psql "host=${t.host} port=${t.port} dbname=${t.database} user=${role}"`,
    uri: `postgresql://${enc(role)}:${enc(password)}@${host}:${t.port}/${enc(t.database)}`,
    pgpass: [t.host, String(t.port), t.database, role, password].map(pgpassField).join(':'),
    serviceName,
    pgService: `[${serviceName}]\nhost=${t.host}\nport=${t.port}\ndbname=${t.database}\nuser=${role}`,
  };
}
