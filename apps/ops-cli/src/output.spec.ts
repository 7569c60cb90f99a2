// What hotdash-ops prints and how it maps answers to exit codes, without a gateway: tables, sizes,
// the run summary, progress rows, error texts and JSON documents, the problem → exit code mapping,
// and the login file's modes and expiry.
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { DatabaseMigrationProgress, MigrationRunOperation, ShardView } from '@hotdash/contracts';
import { refusal, unreachable } from './client';
import { Context } from './context';
import { credentialsPath, readLogin, removeLogin, writeLogin } from './credentials';
import { CliError, ExitCode } from './errors';
import { hintFor } from './hints';
import { emit, emitError, formatAge, formatBytes, formatError, migrationRunSummary, outputFor, shardsTable, table, type Output } from './output';
import { progressCounts, progressText, runProgress } from './progress';

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const streams = () => ({ stdout: new Capture() as unknown as NodeJS.WriteStream & Capture, stderr: new Capture() as unknown as NodeJS.WriteStream & Capture });

const shard = (over: Partial<ShardView> = {}): ShardView => ({
  id: '01900000-0000-7000-8000-000000000001',
  name: 'shard-1',
  host: '127.0.0.1',
  port: 54329,
  database: 'hotdash_shard_1',
  kind: 'shared',
  status: 'active',
  region: 'local',
  createdAt: '2026-12-01T00:00:00.000Z',
  tenantCount: 12,
  databaseSizeBytes: 9_437_184,
  schema: { applied: 17, latest: '20261210_x', pending: [] },
  relayLag: { unpublished: 3, oldestUnpublishedSeconds: 125 },
  error: null,
  ...over,
});

const progress = (over: Partial<DatabaseMigrationProgress> = {}): DatabaseMigrationProgress => ({
  database: 'shard-1',
  role: 'shard',
  target: '127.0.0.1:54329/hotdash_shard_1',
  state: 'waiting',
  total: null,
  applied: [],
  current: null,
  outcome: null,
  error: null,
  ...over,
});

const run = (over: Partial<MigrationRunOperation> = {}): MigrationRunOperation => ({
  id: '01900000-0000-7000-8000-0000000000aa',
  dryRun: false,
  status: 'succeeded',
  actor: 'ops:x',
  startedAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:01.000Z',
  finishedAt: '2026-12-01T00:00:01.000Z',
  databases: [progress({ database: 'control', role: 'control', state: 'done', total: 0, outcome: 'up-to-date' }), progress({ state: 'done', total: 2, applied: ['a', 'b'], outcome: 'migrated' })],
  result: null,
  ...over,
});

describe('tables and figures', () => {
  it('aligns columns on the widest cell and leaves no trailing blanks', () => {
    expect(table(['A', 'LONG HEADER', 'C'], [['xx', 1, ''], ['y', 'wide value here', 'z']])).toBe('A   LONG HEADER      C\nxx  1\ny   wide value here  z\n');
  });

  it('writes sizes and ages for people', () => {
    expect([formatBytes(null), formatBytes(512), formatBytes(1536), formatBytes(9_437_184), formatBytes(5 * 1024 ** 4)]).toEqual(['-', '512 B', '1.5 KiB', '9.0 MiB', '5.0 TiB']);
    expect([formatAge(null), formatAge(4.4), formatAge(125), formatAge(7200)]).toEqual(['-', '4s', '2m', '2h']);
  });

  it('lists shards with their live figures, and an unreadable shard with why', () => {
    const text = shardsTable([shard(), shard({ name: 'dead', status: 'draining', databaseSizeBytes: null, schema: null, relayLag: null, error: { code: 'shard-unreachable', message: 'connect\n ECONNREFUSED' } })]);
    const [head, one, dead] = text.trimEnd().split('\n');
    expect(head).toMatch(/^NAME +STATUS +KIND +REGION +TENANTS +SIZE +SCHEMA +RELAY LAG +LOCATION +ERROR$/);
    expect(one).toMatch(/^shard-1 +active +shared +local +12 +9\.0 MiB +17 applied +3 \(2m\) +127\.0\.0\.1:54329\/hotdash_shard_1$/);
    expect(dead).toMatch(/^dead +draining .* - +- +- +127\.0\.0\.1:54329\/hotdash_shard_1 +shard-unreachable: connect ECONNREFUSED$/);
    expect(shardsTable([])).toBe('No shards registered.\n');
  });

  it('sums a run up by how it ended', () => {
    expect(run({ databases: [progress({ state: 'done', total: 3, applied: ['a_1', 'b_2', 'c_3'], outcome: 'migrated' })] }).databases[0]!.applied).toHaveLength(3);
    expect(migrationRunSummary(run({ databases: [progress({ state: 'done', total: 3, applied: ['a_1', 'b_2', 'c_3'], outcome: 'migrated' })] }))).toMatch(/shard-1 +shard +migrated +3: a_1 … c_3\n/);
    expect(migrationRunSummary(run())).toMatch(/^DATABASE +ROLE +OUTCOME +APPLIED +ERROR\ncontrol +control +up-to-date +-\nshard-1 +shard +migrated +a, b\nRun .* succeeded: 2 database\(s\), 2 migration\(s\) applied\.\n$/);
    const failed = run({ status: 'failed', databases: [progress({ state: 'done', outcome: 'failed', error: { code: 'migration-changed', message: 'x changed' } })] });
    expect(migrationRunSummary(failed)).toMatch(/shard-1 +shard +failed +- +migration-changed: x changed\nRun .* failed on 1 database\(s\) \(shard-1\); the others went on\./);
    expect(migrationRunSummary(run({ status: 'interrupted', databases: [progress({ state: 'running' })] }))).toMatch(/interrupted \(running\)[\s\S]*was interrupted .* run it again/);
    expect(migrationRunSummary(run({ dryRun: true }))).toMatch(/WOULD APPLY[\s\S]*Dry run .* finished: 2 database\(s\), 2 migration\(s\) would apply\./);
  });
});

describe('progress rows', () => {
  it('say what each database is doing and how far it is', () => {
    expect(progressText(progress(), false)).toBe('waiting');
    expect(progressText(progress({ state: 'running' }), false)).toBe('checking');
    expect(progressText(progress({ state: 'running' }), true)).toBe('reading');
    expect(progressText(progress({ state: 'running', current: '2026_b' }), false)).toBe('applying 2026_b');
    expect(progressText(progress({ state: 'done', outcome: 'migrated', applied: ['a'] }), false)).toBe('migrated (1 applied)');
    expect(progressText(progress({ state: 'done', outcome: 'would-migrate', applied: ['a', 'b'] }), true)).toBe('would apply 2');
    expect(progressText(progress({ state: 'done', outcome: 'failed', error: { code: 'database-unreachable', message: '' } }), false)).toBe('FAILED database-unreachable');
    expect(progressCounts(progress())).toEqual({ value: 0, total: 1, count: '?' });
    expect(progressCounts(progress({ state: 'running', total: 4, applied: ['a'] }))).toEqual({ value: 1, total: 4, count: '1/4' });
    expect(progressCounts(progress({ state: 'done', total: 0, outcome: 'up-to-date' }))).toEqual({ value: 1, total: 1, count: '0/0' });
  });

  it('are drawn only when wanted: never with --json or off a terminal, as lines when forced, one per change', () => {
    const s = streams();
    expect(outputFor(true, { HOTDASH_OPS_PROGRESS: 'always' }, s.stdout, s.stderr).progress).toBe(false);
    expect(outputFor(false, {}, s.stdout, s.stderr).progress).toBe(false);
    s.stdout.isTTY = true;
    s.stderr.isTTY = true;
    expect(outputFor(false, {}, s.stdout, s.stderr).progress).toBe(true);
    s.stdout.isTTY = false;
    expect(outputFor(false, {}, s.stdout, s.stderr).progress).toBe(false);
    s.stderr.isTTY = false;
    const forced = outputFor(false, { HOTDASH_OPS_PROGRESS: 'always' }, s.stdout, s.stderr);
    const p = runProgress(forced);
    const first = run({ status: 'running', databases: [progress({ state: 'running' })] });
    p.update(first);
    p.update(first);
    p.update(run({ databases: [progress({ state: 'done', total: 0, outcome: 'up-to-date' })] }));
    p.stop();
    expect(s.stderr.text).toBe('progress: shard-1 ? checking\nprogress: shard-1 0/0 up to date\n');
    expect(s.stdout.text).toBe('');
  });
});

describe('answers and errors', () => {
  it('prints exactly one JSON document with --json, text otherwise; notes never on stdout', () => {
    const s = streams();
    const json: Output = { json: true, progress: false, ...s };
    emit(json, { a: 1 }, () => 'text');
    expect(JSON.parse(s.stdout.text)).toEqual({ a: 1 });
    const t = streams();
    emit({ json: false, progress: false, ...t }, { a: 1 }, () => 'text');
    expect(t.stdout.text).toBe('text\n');
  });

  it('gives an error its title, code, status, detail, field errors and what to do; as JSON on stdout with --json', () => {
    const err = new CliError(ExitCode.REFUSED, 'shard-exists', 'Shard exists', 'taken', 'pick another', 409, [{ path: 'name', message: 'bad' }]);
    expect(formatError(err)).toBe('error: Shard exists (shard-exists, HTTP 409)\n  taken\n  - name: bad\n  what to do: pick another\n');
    const s = streams();
    emitError({ json: true, ...s }, err);
    expect(JSON.parse(s.stdout.text)).toEqual({ error: { exitCode: 1, code: 'shard-exists', title: 'Shard exists', status: 409, detail: 'taken', errors: [{ path: 'name', message: 'bad' }], hint: 'pick another' } });
    expect(s.stderr.text).toBe('hotdash-ops: Shard exists (shard-exists): taken\n');
  });

  it('maps the platform’s answers to exit codes', () => {
    const invalid = { code: 'invalid-credentials', title: 'Unauthorized', detail: 'wrong', status: 401 };
    expect(refusal(401, invalid, true, 'POST /ops/login')).toMatchObject({ exitCode: 1, code: 'invalid-credentials', hint: expect.stringContaining('password') });
    expect(refusal(401, { ...invalid, code: 'token-expired' }, false, 'GET /ops/shards')).toMatchObject({ exitCode: 3, code: 'token-expired', title: 'Ops session expired', hint: expect.stringContaining('hotdash-ops login') });
    expect(refusal(403, { code: 'ops-token-required', title: 'Forbidden' }, false, 'GET /ops/shards')).toMatchObject({ exitCode: 3 });
    expect(refusal(409, { code: 'shard-not-empty', title: 'Shard not empty', detail: 'holds 2' }, false, 'x')).toMatchObject({ exitCode: 1, hint: expect.stringContaining('shards drain') });
    expect(refusal(404, undefined, false, 'GET /ops/shards')).toMatchObject({ exitCode: 1, code: 'unexpected-answer', status: 404 });
    expect(unreachable('http://h:1', Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toMatchObject({ exitCode: 4, detail: 'Cannot reach the gateway at http://h:1 (ECONNREFUSED).' });
    const id = '01900000-0000-7000-8000-0000000000aa';
    expect(hintFor('migrations-running', `Migration run ${id}, started at …`)).toBe(`Follow the run in progress: \`hotdash-ops migrations watch ${id}\`, and start another once it has finished.`);
    expect(hintFor('something-new')).toMatch(/See the detail above/);
  });
});

describe('the stored login', () => {
  let home: string;
  beforeEach(() => (home = mkdtempSync(join(tmpdir(), 'hotdash-ops-unit-'))));
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const login = (expiresAt: string) => ({ gateway: 'http://g', email: 'o@x.test', operatorId: 'op', accessToken: 'tok', expiresAt });

  it('lives under XDG_CONFIG_HOME (else ~/.config) in a 0600 file, narrowed when it was wider', () => {
    const env = { XDG_CONFIG_HOME: home };
    expect(credentialsPath(env)).toBe(join(home, 'hotdash-ops', 'credentials.json'));
    expect(credentialsPath({ HOME: home })).toBe(join(home, '.config', 'hotdash-ops', 'credentials.json'));
    writeLogin(login('2999-01-01T00:00:00.000Z'), env);
    chmodSync(credentialsPath(env), 0o644);
    writeLogin(login('2999-01-01T00:00:00.000Z'), env);
    expect(statSync(credentialsPath(env)).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'hotdash-ops')).mode & 0o777).toBe(0o700);
    expect(readLogin(env)).toEqual(login('2999-01-01T00:00:00.000Z'));
    writeFileSync(credentialsPath(env), 'not json');
    expect(readLogin(env)).toBeUndefined();
    expect(removeLogin(env)).toBe(true);
    expect(removeLogin(env)).toBe(false);
  });

  it('is refused once expired (exit 3, before anything is sent); HOTDASH_OPS_TOKEN wins over it', () => {
    const env = { XDG_CONFIG_HOME: home };
    const out = outputFor(false, env);
    expect(() => new Context(out, env).authenticated()).toThrow(expect.objectContaining({ exitCode: 3, code: 'not-logged-in' }));
    writeLogin(login('2020-01-01T00:00:00.000Z'), env);
    expect(() => new Context(out, env).authenticated()).toThrow(expect.objectContaining({ exitCode: 3, code: 'token-expired', detail: expect.stringContaining('expired at 2020-01-01') }));
    expect(new Context(out, { ...env, HOTDASH_OPS_TOKEN: 't' }).authenticated().gateway).toBe('http://g');
    expect(new Context(out, env, 'http://other:3100/').gateway()).toBe('http://other:3100');
    expect(() => new Context(out, env, 'ftp://x').gateway()).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});
