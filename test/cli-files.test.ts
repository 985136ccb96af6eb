// The parts of `fdwg` that need no gate: editing ~/.pgpass and ~/.pg_service.conf the way libpq
// reads them (every foreign byte kept), durations, the command line's grammar, the token file.
// libpq itself reads the files in test/cli.test.ts (real psql).
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { parseDuration, formatDuration } from '../src/cli/duration.js';
import { parseCommandLine } from '../src/cli/main.js';
import {
  parsePgpassLine,
  pgpassLine,
  serviceParams,
  upsertPgpass,
  upsertService,
  writeConnectionFiles,
} from '../src/cli/pgfiles.js';
import { configDir, normalizeGateUrl, readToken, saveToken, tokenFile } from '../src/cli/store.js';

const target = { host: '127.0.0.1', port: 54329, database: 'warehouse', user: 'fdwg_alice' };
const ours = (pw: string) => `127.0.0.1:54329:warehouse:fdwg_alice:${pw}`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fdwg-cli-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('~/.pgpass', () => {
  test('an empty or missing file gets the one line', () => {
    expect(upsertPgpass('', target, 'pw1')).toEqual({ content: `${ours('pw1')}\n`, action: 'added' });
  });

  test('a new line goes at the end; every foreign line stays byte for byte', () => {
    const before = '# my databases\ndb.example.org:5432:*:me:secret\n\nlocalhost:5432:other:fdwg_alice:x\n';
    const { content, action } = upsertPgpass(before, target, 'pw1');
    expect(action).toBe('added');
    expect(content).toBe(`${before}${ours('pw1')}\n`);
  });

  test('the line for the same host:port:database:user is replaced in place; copies of it go', () => {
    const before = `a:1:b:c:d\n${ours('old')}\n# note\n${ours('older')}\nz:*:*:*:w`;
    const { content, action } = upsertPgpass(before, target, 'new');
    expect(action).toBe('updated');
    expect(content).toBe(`a:1:b:c:d\n${ours('new')}\n# note\nz:*:*:*:w`);
    expect(upsertPgpass(content, target, 'new')).toEqual({ content, action: 'unchanged' });
  });

  test('a wildcard line libpq would pick first gets our line right above it', () => {
    const before = `a:1:b:c:d\n*:*:*:fdwg_alice:stale\n${ours('old')}\n`;
    const { content } = upsertPgpass(before, target, 'new');
    expect(content).toBe(`a:1:b:c:d\n${ours('new')}\n*:*:*:fdwg_alice:stale\n`);
    // An escaped star is a literal one, not a wildcard: no reason to move above it.
    const literal = `127.0.0.1:54329:\\*:fdwg_alice:x\n`;
    expect(upsertPgpass(literal, target, 'pw').content).toBe(`${literal}${ours('pw')}\n`);
  });

  test('CRLF files keep their line endings; a file without a final newline gets one only after an added line', () => {
    const crlf = `a:1:b:c:d\r\n${ours('old')}\r\n`;
    expect(upsertPgpass(crlf, target, 'new').content).toBe(`a:1:b:c:d\r\n${ours('new')}\r\n`);
    expect(upsertPgpass('a:1:b:c:d\r\n', target, 'new').content).toBe(`a:1:b:c:d\r\n${ours('new')}\r\n`);
    expect(upsertPgpass(`${ours('old')}`, target, 'new').content).toBe(`${ours('new')}`);
    expect(upsertPgpass('a:1:b:c:d', target, 'new').content).toBe(`a:1:b:c:d\n${ours('new')}\n`);
  });

  test('fields escape ":" and "\\", a lone "*" and a leading "#" as libpq reads them (round trip, any text)', () => {
    const text = fc.oneof(
      fc.constantFrom('*', '#', '\\', ':', '\\*'),
      fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\n') && !s.includes('\r')),
    );
    fc.assert(
      fc.property(text, text, text, text, fc.integer({ min: 1, max: 65535 }), (host, database, user, pw, port) => {
        const t = { host, port, database, user };
        const fields = parsePgpassLine(pgpassLine(t, pw));
        expect(fields?.map((f) => f.value)).toEqual([host, String(port), database, user, pw]);
        // Our own fields are never wildcards, even a value that is "*".
        expect(fields?.slice(0, 4).some((f) => f.wildcard)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  test('any file of foreign lines: all kept in order, exactly one line for the target, and it is the first libpq matches', () => {
    const field = fc.oneof(fc.constantFrom('*', '127.0.0.1', '54329', 'warehouse', 'fdwg_alice', 'x:y', 'a\\b'), fc.string({ maxLength: 5 }).filter((s) => !/[\r\n]/.test(s)));
    const line = fc.oneof(
      fc.tuple(field, field, field, field, field).map((f) => f.map((s) => (s === '*' ? s : s.replace(/\\/g, '\\\\').replace(/:/g, '\\:'))).join(':')),
      fc.constantFrom('# comment', '', 'not a pgpass line'),
    );
    const isOurs = (l: string) => {
      const f = parsePgpassLine(l);
      return f !== undefined && [target.host, String(target.port), target.database, target.user].every((k, i) => !f[i]!.wildcard && f[i]!.value === k);
    };
    fc.assert(
      fc.property(fc.array(line.filter((l) => !l.includes('\n')), { maxLength: 12 }), fc.boolean(), (lines, finalNewline) => {
        const before = lines.join('\n') + (finalNewline && lines.length ? '\n' : '');
        const after = upsertPgpass(before, target, 'NEWPW').content;
        const afterLines = after.replace(/\n$/, '').split('\n');
        expect(afterLines.filter(isOurs)).toEqual([ours('NEWPW')]);
        const beforeLines = before === '' ? [] : before.replace(/\n$/, '').split('\n');
        expect(afterLines.filter((l) => !isOurs(l))).toEqual(beforeLines.filter((l) => !isOurs(l)));
        // libpq takes the first line whose fields all match (a "*" matches anything).
        const first = afterLines.find((l) => {
          const f = parsePgpassLine(l);
          return f && [target.host, String(target.port), target.database, target.user].every((k, i) => f[i]!.wildcard || f[i]!.value === k);
        });
        expect(first).toBe(ours('NEWPW'));
      }),
    );
  });
});

describe('~/.pg_service.conf', () => {
  const params = serviceParams(target);
  const section = '[fdwg]\nhost=127.0.0.1\nport=54329\ndbname=warehouse\nuser=fdwg_alice\n';

  test('a new section is appended after a blank line; the others stay byte for byte', () => {
    expect(upsertService('', 'fdwg', params)).toEqual({ content: section, action: 'added' });
    const before = '# services\n[prod]\nhost=db.example.org\ndbname=prod\n';
    expect(upsertService(before, 'fdwg', params).content).toBe(`${before}\n${section}`);
  });

  test('an existing [fdwg] is updated in place: other settings and comments kept, password and passfile dropped, later copies removed', () => {
    const before = [
      '[prod]',
      'host=db.example.org',
      '',
      '# the gate',
      '[fdwg]',
      'host=old.example.org',
      'sslmode=require',
      'password=stale',
      'user=fdwg_alice',
      '',
      '# next: staging',
      '[staging]',
      'host=staging',
      '[fdwg]',
      'host=duplicate',
      '',
    ].join('\n');
    const { content, action } = upsertService(before, 'fdwg', params);
    expect(action).toBe('updated');
    expect(content).toBe(
      [
        '[prod]',
        'host=db.example.org',
        '',
        '# the gate',
        '[fdwg]',
        'host=127.0.0.1',
        'sslmode=require',
        'user=fdwg_alice',
        'port=54329',
        'dbname=warehouse',
        '',
        '# next: staging',
        '[staging]',
        'host=staging',
        '',
      ].join('\n'),
    );
    expect(upsertService(content, 'fdwg', params)).toEqual({ content, action: 'unchanged' });
  });

  test('a section named like ours but different is not ours', () => {
    const before = '[fdwg-old]\nhost=x\n[FDWG]\nhost=y\n';
    expect(upsertService(before, 'fdwg', params).content).toBe(`${before}\n${section}`);
  });
});

describe('files on disk', () => {
  test('written with mode 0600 through a symbolic link, which stays a link', () => {
    const dir = mkdtempSync(path.join(tmp, 'home-'));
    const real = path.join(dir, 'dotfiles-pgpass');
    writeFileSync(real, 'a:1:b:c:d\n', { mode: 0o644 });
    symlinkSync(real, path.join(dir, '.pgpass'));
    const env = { PGPASSFILE: path.join(dir, '.pgpass'), PGSERVICEFILE: path.join(dir, 'svc', 'pg_service.conf') };
    const written = writeConnectionFiles(target, 'pw', 'fdwg', env);
    expect(written.pgpass.action).toBe('added');
    expect(written.service.action).toBe('added');
    expect(readFileSync(real, 'utf8')).toBe(`a:1:b:c:d\n${ours('pw')}\n`);
    expect(statSync(path.join(dir, '.pgpass'), { throwIfNoEntry: true }).isFile()).toBe(true);
    expect(statSync(real).mode & 0o777).toBe(0o600);
    expect(statSync(env.PGSERVICEFILE).mode & 0o777).toBe(0o600);
  });

  test('the token: one file per gate URL under $XDG_CONFIG_HOME/fdwg, 0600 in a 0700 directory', () => {
    const env = { XDG_CONFIG_HOME: path.join(tmp, 'config') };
    const gate = normalizeGateUrl('http://localhost:8787/');
    expect(gate).toBe('http://localhost:8787');
    expect(normalizeGateUrl('https://gate.example.org/fdwg/')).toBe('https://gate.example.org/fdwg');
    expect(() => normalizeGateUrl('localhost:8787')).toThrow(/http/);
    const t = { gate, token: 'tkn', username: 'alice', expiresAt: '2030-01-01T00:00:00Z', createdAt: '2026-01-01T00:00:00Z' };
    const file = saveToken(t, env);
    expect(path.dirname(file)).toBe(configDir(env));
    expect(configDir(env)).toBe(path.join(tmp, 'config', 'fdwg'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(configDir(env)).mode & 0o777).toBe(0o700);
    expect(readToken(gate, env)).toEqual(t);
    expect(readToken('http://localhost:8788', env)).toBeUndefined();
    expect(tokenFile('http://localhost:8788', env)).not.toBe(file);
  });
});

describe('the command line', () => {
  test('durations need a unit', () => {
    expect(parseDuration('8h')).toBe(28_800);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('2w')).toBe(1_209_600);
    expect(parseDuration('90s')).toBe(90);
    for (const bad of ['7', '', 'h', '1x', '-1h', '1h 30', '0m']) expect(() => parseDuration(bad), bad).toThrow();
    expect(formatDuration(28_800)).toBe('8h');
    expect(formatDuration(93_600)).toBe('1d 2h');
  });

  test('options before or after the command; unknown ones are usage errors', () => {
    expect(parseCommandLine(['--gate', 'http://g', 'creds', '--ttl', '2h', '--env'])).toMatchObject({
      command: 'creds',
      values: { gate: 'http://g', ttl: '2h', env: true },
    });
    expect(parseCommandLine(['request', 'a', 'b', '--for', '7d', '--purpose', 'p'])).toMatchObject({
      command: 'request',
      positionals: ['a', 'b'],
    });
    expect(parseCommandLine(['help', 'creds'])).toMatchObject({ command: 'creds', values: { help: true } });
    expect(() => parseCommandLine(['creds', '--tll', '2h'])).toThrow(/--tll/);
    expect(() => parseCommandLine(['relinquish'])).toThrow(/needs a request id/);
    expect(() => parseCommandLine(['status', 'extra'])).toThrow(/unexpected argument "extra"/);
    expect(() => parseCommandLine(['frobnicate'])).toThrow(/unknown command/);
  });
});
