import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, isEmbedded, parseEnv } from '../src/config.js';
import { loadPolicy } from '../src/policy/load.js';
import { PolicyError, parsePolicy } from '../src/policy/parse.js';

describe('configuration', () => {
  test('no variables at all means embedded defaults', () => {
    const env = parseEnv({});
    expect(isEmbedded(env)).toBe(true);
    expect(env.PORT).toBe(8787);
    expect(env.ROLE_PREFIX).toBe('fdwg_');
  });

  test('the control database may not be the warehouse, where every analyst can connect', () => {
    const issuer = { OIDC_ISSUER: 'https://id.example.org', OIDC_CLIENT_ID: 'x', OIDC_CLIENT_SECRET: 'y', SESSION_SECRET: 'z'.repeat(32) };
    const problems = (env: Record<string, string>) => {
      try {
        parseEnv({ ...issuer, ...env });
        return '';
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
    };
    const refused = 'CONTROL_DATABASE_URL: must name a database of its own, not the warehouse';
    // One URL for both, the same database named twice (default port, other case), and the fallback.
    expect(problems({ DATABASE_URL: 'postgres://gate@db/warehouse' })).toContain(refused);
    expect(problems({ CONTROL_DATABASE_URL: 'postgres://gate@DB:5432/warehouse', WAREHOUSE_DATABASE_URL: 'postgresql://prov@db/warehouse' })).toContain(refused);
    expect(problems({ DATABASE_URL: 'postgres://gate@db/warehouse', WAREHOUSE_DATABASE_URL: 'postgres://prov@db/warehouse' })).toContain(refused);
    // Two databases, even on one server, or one name on two servers: accepted.
    expect(problems({ CONTROL_DATABASE_URL: 'postgres://gate@db/gate_control', WAREHOUSE_DATABASE_URL: 'postgres://prov@db/warehouse' })).toBe('');
    expect(problems({ CONTROL_DATABASE_URL: 'postgres://gate@db:5433/warehouse', WAREHOUSE_DATABASE_URL: 'postgres://prov@db/warehouse' })).toBe('');
  });

  test('a database URL without an issuer lists every missing setting at once', () => {
    try {
      parseEnv({ DATABASE_URL: 'postgres://gate@db/warehouse' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const key of ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'SESSION_SECRET']) {
        expect(problems).toContain(`${key}: required when a database URL is set`);
      }
    }
  });

  test('only one of the two database URLs is refused', () => {
    expect(() =>
      parseEnv({
        CONTROL_DATABASE_URL: 'postgres://a@b/c',
        OIDC_ISSUER: 'https://id.example.org',
        OIDC_CLIENT_ID: 'x',
        OIDC_CLIENT_SECRET: 'y',
        SESSION_SECRET: 'z'.repeat(32),
      }),
    ).toThrow(/WAREHOUSE_DATABASE_URL/);
  });

  test('short secrets and odd prefixes are refused with the reason', () => {
    expect(() => parseEnv({ SESSION_SECRET: 'short', ROLE_PREFIX: 'x"; DROP ROLE y; --' })).toThrow(
      /SESSION_SECRET: at least 32 characters[\s\S]*ROLE_PREFIX: lower-case/,
    );
  });
});

describe('policy', () => {
  test('the shipped policy is valid and carries its agreement text', () => {
    const policy = loadPolicy(path.resolve('policies'));
    expect(policy.admission.member_groups).toContain('fdwg');
    expect(policy.agreementText).toMatch(/data-use agreement/i);
    expect(policy.credentials.ttl_default).toBeLessThanOrEqual(policy.credentials.ttl_max);
  });

  const base = `admission:
  member_groups: [fdwg]
agreement:
  version: "1"
  title: T
  file: a.md
credentials:
  ttl_default: 100
  ttl_max: 50
tiers:
  pseudonymized:
    schemas: [pseudonymized]
  pii:
    schemas: [Bad-Schema]
`;

  test('every problem names file, line and field', () => {
    try {
      parsePolicy('policies/policy.yaml', base, () => 'text');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      const problems = (err as PolicyError).problems;
      expect(problems).toContainEqual(expect.stringMatching(/^policies\/policy\.yaml:8: credentials\.ttl_default: must not exceed/));
      expect(problems).toContainEqual(expect.stringMatching(/^policies\/policy\.yaml:14: tiers\.pii\.schemas\.0: /));
    }
  });

  test('YAML syntax errors name the line', () => {
    expect(() => parsePolicy('p.yaml', 'admission:\n  member_groups: [fdwg\n', () => '')).toThrow(/p\.yaml:\d+:/);
  });

  test('a missing agreement file is reported', () => {
    const ok = base.replace('ttl_max: 50', 'ttl_max: 500').replace('Bad-Schema', 'pii');
    expect(() =>
      parsePolicy('p.yaml', ok, () => {
        throw new Error('ENOENT');
      }),
    ).toThrow(/agreement\.file: cannot read a\.md/);
  });
});
