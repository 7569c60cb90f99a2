// The ops command line end to end (issue 14, item 1): the real `hotdash-ops` bin run as a child
// process against a gateway and provisioning started as separate processes. A platform operator
// logs in (the token kept in a 0600 file under a temporary XDG_CONFIG_HOME, never the real home),
// lists shards, registers a scratch database as a shard (dry run first), drains, activates and
// retires it, reads the migrations' status and runs them (a dry run, then a real run followed to its
// end with a progress row per database), looks a tenant up (its region too) and suspends and
// reactivates it, asks for a rebalance of a region without shards; and the
// error paths keep their exit codes: bad usage 2, a wrong password 1 with the platform's problem,
// not logged in 3, a tenant's token 3, an unreachable gateway 4. --json always prints exactly one
// JSON document on stdout. The scratch shard and database, the operator, its ops actions and
// migration runs are removed in afterAll (the tenant account stays, as in ops-shards.e2e-spec).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrationRunOperation, migrationStatus, shardList, shardRegistration, shardStatusChange, type MigrationRunOperation } from '@hotdash/contracts';
import { cliDoc, createAccount, createEmptyShardDatabase, createPlatformOperator, dropScratchShards, scratchDatabaseName, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, opsCli } from '@hotdash/testing';
import { newId } from '@hotdash/platform-db';

// Each command starts a Node process that compiles the CLI's TypeScript: about a second apiece.
jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3297';
const PROVISIONING = 'http://127.0.0.1:3298';
const world = new TestWorld();
const database = scratchDatabaseName('cli');
const name = `spec-cli-${newId().replace(/-/g, '').slice(-10)}`;
const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-spec-'));
let processes: ServiceProcess[] = [];
let ops: { id: string; email: string };
let tenantToken: string;
let tenant: { tenantId: string; slug: string; email: string };

const cli = opsCli(configHome, GATEWAY);
const doc = cliDoc;

const login = (password = TEST_PASSWORD, extra: string[] = []) => cli([...extra, 'login', ops.email], { HOTDASH_OPS_PASSWORD: password });
const registerArgs = (over: Record<string, string> = {}) => {
  const o = { host: world.config.db.controlHost, port: String(world.config.db.controlPort), database, kind: 'dedicated', region: 'eu-cli-1', ...over };
  return ['shards', 'register', name, '--host', o.host, '--port', o.port, '--database', o.database, '--kind', o.kind, '--region', o.region];
};

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3297', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3298' }, url: PROVISIONING },
  ]);
  await createEmptyShardDatabase(world, database);
  ops = await createPlatformOperator(world);
  tenant = await createAccount(world, 'admin');
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: tenant.slug, email: tenant.email, password: TEST_PASSWORD }) });
  tenantToken = ((await res.json()) as { accessToken: string }).accessToken;
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (ops) {
      await owner.query('delete from ops_actions where actor = $1', [`ops:${ops.id}`]);
      await owner.query('delete from migration_runs where actor = $1', [`ops:${ops.id}`]);
      await owner.query('delete from platform_operators where id = $1', [ops.id]);
    }
  } finally {
    await owner.end();
  }
  await dropScratchShards(world, [name], [database]);
  await world.close();
  rmSync(configHome, { recursive: true, force: true });
}, 60_000);

describe('exit codes of the error paths', () => {
  it('answers bad usage with 2 and says what is wrong, as text and as one JSON document', async () => {
    const unknown = await cli(['frobnicate']);
    expect([unknown.code, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'[\s\S]*what to do: See `hotdash-ops --help`/);
    const missing = await cli(['shards', 'register', name, '--host', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--port <port>' not specified[\s\S]*hotdash-ops shards register --help/);
    const badKind = await cli([...registerArgs({ kind: 'huge' }), '--json']);
    expect(badKind.code).toBe(2);
    expect(doc(badKind)).toEqual({ error: expect.objectContaining({ exitCode: 2, code: 'usage', detail: expect.stringContaining('Allowed choices are shared, dedicated') }) });
    // Checked with the contract's schema before anything is sent.
    const badRegion = await cli([...registerArgs({ region: 'EU West' }), '--json']);
    expect([badRegion.code, (doc(badRegion).error as { errors: { path: string }[] }).errors.map((e) => e.path)]).toEqual([2, ['region']]);
    expect((await cli(['shards'])).code).toBe(2);
    expect((await cli(['migrations', 'watch', 'not-an-id'])).code).toBe(2);
    const help = await cli(['--help']);
    expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/Exit codes:[\s\S]*3 {2}not logged in[\s\S]*4 {2}the gateway could not be reached/)]);
  });

  it('answers 3 before any login, and says to log in', async () => {
    const list = await cli(['shards', 'list', '--json']);
    expect(list.code).toBe(3);
    expect(doc(list)).toEqual({ error: expect.objectContaining({ exitCode: 3, code: 'not-logged-in', hint: expect.stringContaining('hotdash-ops login') }) });
    const whoami = await cli(['whoami']);
    expect([whoami.code, whoami.stdout]).toEqual([3, '']);
    expect(whoami.stderr).toMatch(/Not logged in[\s\S]*hotdash-ops login <email>/);
  });

  it('answers 4 when the gateway cannot be reached', async () => {
    const port = await closedPort();
    const r = await login(TEST_PASSWORD, ['--gateway', `http://127.0.0.1:${port}`, '--json']);
    expect(r.code).toBe(4);
    expect(doc(r)).toEqual({ error: expect.objectContaining({ exitCode: 4, code: 'gateway-unreachable', detail: expect.stringContaining(`127.0.0.1:${port}`) }) });
    const text = await cli(['shards', 'list'], { HOTDASH_GATEWAY_URL: `http://127.0.0.1:${port}`, HOTDASH_OPS_TOKEN: 'any' });
    expect(text.code).toBe(4);
    expect(text.stderr).toMatch(/Gateway unreachable[\s\S]*what to do: Check --gateway/);
  });

  it('answers a wrong password with 1 and the platform’s problem, and keeps no login', async () => {
    const r = await login('not the password at all');
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(/error: Unauthorized \(invalid-credentials, HTTP 401\)[\s\S]*what to do: Check the e-mail address and the password/);
    const json = await login('not the password at all', ['--json']);
    expect([json.code, doc(json)]).toEqual([1, { error: expect.objectContaining({ exitCode: 1, code: 'invalid-credentials', status: 401, title: 'Unauthorized' }) }]);
    expect((await cli(['whoami'])).code).toBe(3);
  });

  it('does not take a tenant’s token: 3, with what to do', async () => {
    const r = await cli(['shards', 'list', '--json'], { HOTDASH_OPS_TOKEN: tenantToken });
    expect(r.code).toBe(3);
    expect(doc(r)).toEqual({ error: expect.objectContaining({ exitCode: 3, code: 'ops-token-required', status: 403, hint: expect.stringContaining('hotdash-ops login') }) });
  });
});

describe('a platform operator at work', () => {
  it('logs in, keeping the token in a file only its owner can read, and says who is logged in', async () => {
    const r = await login(TEST_PASSWORD, ['--json']);
    expect(r.code).toBe(0);
    const file = join(configHome, 'hotdash-ops', 'credentials.json');
    expect(doc(r)).toMatchObject({ loggedIn: true, email: ops.email, operatorId: ops.id, gateway: GATEWAY, credentials: file });
    expect(r.stdout).not.toContain(TEST_PASSWORD);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(configHome, 'hotdash-ops')).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(Object.keys(stored).sort()).toEqual(['accessToken', 'email', 'expiresAt', 'gateway', 'operatorId']);
    expect(JSON.stringify(stored)).not.toContain(TEST_PASSWORD);
    expect(Date.parse(stored.expiresAt!)).toBeGreaterThan(Date.now());
    const whoami = await cli(['whoami', '--json']);
    expect([whoami.code, doc(whoami)]).toEqual([0, expect.objectContaining({ email: ops.email, operatorId: ops.id, gateway: GATEWAY, source: 'login' })]);
  });

  it('lists, registers (dry run first), drains, activates and retires a shard', async () => {
    const list = await cli(['shards', 'list', '--json']);
    expect(list.code).toBe(0);
    const shards = shardList.parse(doc(list)).shards;
    expect(shards.find((s) => s.name === 'shard-1')).toMatchObject({ status: 'active', error: null });
    expect(shards.find((s) => s.name === name)).toBeUndefined();
    const table = await cli(['shards', 'list']);
    expect(table.stdout).toMatch(/^NAME +STATUS +KIND +REGION +TENANTS +SIZE +SCHEMA +RELAY LAG +LOCATION +ERROR\n/);
    expect(table.stdout).toMatch(/\nshard-1 +active +shared +local +\d+ +[\d.]+ (?:B|KiB|MiB|GiB) +\d+ applied/);

    const dry = await cli([...registerArgs(), '--dry-run', '--json']);
    expect([dry.code, doc(dry)]).toEqual([0, expect.objectContaining({ dryRun: true, wouldBe: 'registered', request: { method: 'POST', path: '/ops/shards', body: expect.objectContaining({ name, database, port: world.config.db.controlPort }) } })]);
    expect((await cli(['shards', 'list', '--json'])).stdout).not.toContain(name);

    const registered = await cli([...registerArgs(), '--json']);
    expect(registered.code).toBe(0);
    expect(shardRegistration.parse(doc(registered))).toMatchObject({ outcome: 'registered', shard: { name, status: 'active', kind: 'dedicated', region: 'eu-cli-1' } });
    expect(registered.stderr).toBe('');
    const again = await cli([...registerArgs(), '--dry-run']);
    expect([again.code, again.stdout]).toEqual([0, expect.stringContaining(`Shard ${name} is registered with these details (active)`)]);
    const elsewhere = await cli([...registerArgs({ region: 'us-cli-1' }), '--dry-run', '--json']);
    expect([elsewhere.code, doc(elsewhere)]).toEqual([1, { error: expect.objectContaining({ code: 'shard-exists', title: 'Would be refused: name taken' }) }]);
    const taken = await cli(registerArgs({ region: 'us-cli-1' }));
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/\(shard-exists, HTTP 409\)[\s\S]*what to do: Pick another name/);

    const dryDrain = await cli(['shards', 'drain', name, '--dry-run']);
    expect([dryDrain.code, dryDrain.stdout]).toEqual([0, `Dry run: shard ${name} is active; drain would make it draining.\n`]);
    const drained = await cli(['shards', 'drain', name, '--json']);
    expect([drained.code, shardStatusChange.parse(doc(drained))]).toEqual([0, expect.objectContaining({ changed: true, shard: expect.objectContaining({ status: 'draining' }) })]);
    const listed = shardList.parse(doc(await cli(['shards', 'list', '--json']))).shards.find((s) => s.name === name);
    expect(listed).toMatchObject({ status: 'draining', tenantCount: 0, schema: { pending: [] }, error: null });
    const activated = await cli(['shards', 'activate', name]);
    expect([activated.code, activated.stdout]).toEqual([0, `Shard ${name} is now active.\n`]);
    const dryRetire = await cli(['shards', 'retire', name, '--dry-run', '--json']);
    expect([dryRetire.code, doc(dryRetire)]).toEqual([0, expect.objectContaining({ dryRun: true, wouldChange: true })]);
    const retired = await cli(['shards', 'retire', name, '--json']);
    expect([retired.code, doc(retired)]).toEqual([0, expect.objectContaining({ changed: true, shard: expect.objectContaining({ status: 'retired' }) })]);
    const refused = await cli(['shards', 'drain', name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\(shard-retired, HTTP 409\)[\s\S]*what to do: Bring it back by registering it again/);
    expect((await cli(['shards', 'activate', name, '--dry-run'])).code).toBe(1);
    expect((await cli(['shards', 'drain', `${name}-missing`])).stderr).toMatch(/not-found, HTTP 404/);
  });

  it('shows the migrations of every database and runs them, following the run to its end', async () => {
    const status = await cli(['migrations', 'status', '--json']);
    expect(status.code).toBe(0);
    const databases = migrationStatus.parse(doc(status)).databases;
    expect(databases[0]).toMatchObject({ database: 'control', role: 'control', error: null });
    expect(databases.find((d) => d.database === 'shard-1')).toMatchObject({ role: 'shard', pending: [] });
    expect(databases.find((d) => d.database === name)).toBeUndefined(); // retired: not migrated

    const dry = await cli(['migrations', 'run', '--dry-run', '--json']);
    const dryRun = migrationRunOperation.parse(doc(dry));
    expect(dryRun).toMatchObject({ dryRun: true, status: expect.stringMatching(/^(succeeded|failed)$/), result: { dryRun: true } });
    expect(dry.code).toBe(dryRun.status === 'succeeded' ? 0 : 1);
    expect(dry.stderr).toBe('');
    // The real run below must not apply migration files someone is still writing to the shared databases.
    const pending = dryRun.result!.databases.filter((d) => d.outcome !== 'up-to-date');
    expect(pending.map((d) => `${d.database}: ${d.outcome} ${d.applied.join(', ')} ${d.error?.message ?? ''}`)).toEqual([]);

    // Progress forced on (stderr is not a terminal here): one line each time a database's row changes.
    const real = await cli(['migrations', 'run'], { HOTDASH_OPS_PROGRESS: 'always' });
    expect(real.code).toBe(0);
    const runId = real.stderr.match(/^Run ([0-9a-f-]{36}) started over (\d+) database\(s\)\.$/m);
    expect(runId).not.toBeNull();
    for (const d of ['control', 'shard-1']) expect(real.stderr).toMatch(new RegExp(`^progress: ${d} 0/0 up to date$`, 'm'));
    expect(real.stdout).toMatch(/^DATABASE +ROLE +OUTCOME +APPLIED +ERROR\ncontrol +control +up-to-date +-/);
    expect(real.stdout).toContain(`Run ${runId![1]} succeeded: ${runId![2]} database(s), 0 migration(s) applied.`);

    // The finished run can be followed again, by id, as one JSON document.
    const watched = await cli(['migrations', 'watch', runId![1]!, '--json']);
    expect(watched.code).toBe(0);
    const run: MigrationRunOperation = migrationRunOperation.parse(doc(watched));
    expect(run).toMatchObject({ id: runId![1], dryRun: false, status: 'succeeded', actor: `ops:${ops.id}`, finishedAt: expect.any(String), result: { ok: true } });
    expect(run.databases.every((d) => d.state === 'done' && d.outcome === 'up-to-date')).toBe(true);
    const unknown = await cli(['migrations', 'watch', newId()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not-found, HTTP 404/);
  });

  it('looks a tenant up and changes its lifecycle, dry runs first', async () => {
    const id = tenant.tenantId;
    const show = await cli(['tenants', 'show', id, '--json']);
    expect([show.code, doc(show)]).toEqual([0, expect.objectContaining({ id, slug: tenant.slug, status: 'active', region: 'local' })]);
    expect((await cli(['tenants', 'show', id])).stdout).toMatch(new RegExp(`^FIELD +VALUE\\nid +${id}\\n[\\s\\S]*status +active\\n`));
    const dry = await cli(['tenants', 'suspend', id, '--reason', 'spec', '--dry-run']);
    expect([dry.code, dry.stdout]).toEqual([0, `Dry run: tenant ${tenant.slug} is active; would suspend it (reason: spec).\n`]);
    expect(doc(await cli(['tenants', 'show', id, '--json']))).toMatchObject({ status: 'active' });
    const suspended = await cli(['tenants', 'suspend', id, '--reason', 'spec', '--json']);
    expect([suspended.code, doc(suspended)]).toEqual([0, expect.objectContaining({ id, status: 'suspended' })]);
    const again = await cli(['tenants', 'suspend', id, '--reason', 'spec', '--dry-run', '--json']);
    expect([again.code, doc(again)]).toEqual([1, { error: expect.objectContaining({ code: 'invalid-tenant-status', hint: expect.stringContaining('tenants show') }) }]);
    const twice = await cli(['tenants', 'suspend', id, '--reason', 'spec']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/\(invalid-tenant-status, HTTP 409\)/);
    expect((await cli(['tenants', 'resume', id, '--dry-run'])).code).toBe(0);
    expect(doc(await cli(['tenants', 'resume', id, '--json']))).toMatchObject({ status: 'active' });
    expect(doc(await cli(['tenants', 'plan', id, 'enterprise', '--dry-run', '--json']))).toMatchObject({ dryRun: true, wouldChange: true, request: { method: 'PUT', body: { plan: 'enterprise' } } });
    expect(doc(await cli(['tenants', 'show', id, '--json']))).toMatchObject({ plan: 'basic' });
    expect((await cli(['tenants', 'plan', id, 'platinum'])).code).toBe(2);
    const offboard = await cli(['tenants', 'offboard', id, '--reason', 'spec']);
    expect(offboard.code).toBe(2);
    expect(offboard.stderr).toMatch(/Add --yes to confirm/);
    expect(doc(await cli(['tenants', 'show', id, '--json']))).toMatchObject({ status: 'active' });
    const create = await cli(['tenants', 'create', '--name', 'Spec Org', '--plan', 'basic', '--admin-email', 'admin@spec.test', '--dedicated', '--dry-run', '--json']);
    expect([create.code, doc(create)]).toEqual([1, { error: expect.objectContaining({ code: 'dedicated-requires-enterprise' }) }]);
    const createDry = await cli(['tenants', 'create', '--name', 'Spec Org', '--plan', 'enterprise', '--admin-email', 'admin@spec.test', '--dedicated', '--dry-run', '--json']);
    expect([createDry.code, doc(createDry)]).toEqual([0, expect.objectContaining({ dryRun: true, request: expect.objectContaining({ body: { name: 'Spec Org', plan: 'enterprise', admin: { email: 'admin@spec.test' }, dedicatedShard: true } }) })]);
    expect((await cli(['tenants', 'show', 'not-a-uuid'])).code).toBe(2);
    expect((await cli(['tenants', 'show', newId()])).stderr).toMatch(/not-found, HTTP 404/);
  });

  it('plans a rebalance only of a region with shards, and says what to do otherwise', async () => {
    expect((await cli(['rebalance', '--dry-run'])).code).toBe(2);
    expect((await cli(['rebalance', '--region', 'local', '--dry-run', '--concurrency', '9'])).code).toBe(2);
    expect((await cli(['rebalance', 'watch', 'not-a-run'])).code).toBe(2);
    const unknown = await cli(['rebalance', '--region', `nowhere-${name.slice(-6)}`, '--dry-run', '--json']);
    expect([unknown.code, doc(unknown)]).toEqual([1, { error: expect.objectContaining({ code: 'region-unknown', status: 422, hint: expect.stringContaining('shards list') }) }]);
  });

  it('offboards a tenant and hands out its signed certificate, which verifies offline and fails once changed', async () => {
    const leaving = await createAccount(world, 'admin');
    const off = await cli(['tenants', 'offboard', leaving.tenantId, '--reason', 'contract ended', '--yes', '--wait', '--json']);
    expect([off.code, doc(off)]).toEqual([0, expect.objectContaining({ offboarding: expect.objectContaining({ status: 'offboarded' }) })]);
    const file = join(configHome, 'offboarding-certificate.json');
    const cert = await cli(['tenants', 'certificate', leaving.tenantId, '--out', file]);
    expect(cert.code).toBe(0);
    expect(cert.stdout).toMatch(new RegExp(`^Offboarding [0-9a-f-]{36} of tenant ${leaving.tenantId}, asked by ops:`));
    expect(cert.stdout).toMatch(/\npostgresql +deleted +rows of every tenant table on its shard +\d+\n/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const verified = await cli(['certificate', 'verify', file]);
    expect([verified.code, verified.stdout]).toEqual([0, expect.stringMatching(/^Certificate valid: signed by cert-dev-1\.\nOffboarding /)]);
    const changed = JSON.parse(readFileSync(file, 'utf8')) as { certificate: { reason: string } };
    changed.certificate.reason = 'no reason';
    const tamperedFile = join(configHome, 'tampered-certificate.json');
    writeFileSync(tamperedFile, JSON.stringify(changed));
    const refused = await cli(['certificate', 'verify', tamperedFile]);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/Certificate NOT valid/)]);
    // A tenant never offboarded has none.
    expect((await cli(['tenants', 'certificate', tenant.tenantId])).stderr).toMatch(/not-found, HTTP 404/);
  });

  it('logs out: the login is forgotten and commands answer 3 again', async () => {
    const out = await cli(['logout']);
    expect([out.code, out.stdout]).toEqual([0, expect.stringMatching(/^Logged out .*credentials\.json removed\./)]);
    expect((await cli(['shards', 'list'])).code).toBe(3);
    expect((await cli(['logout', '--json'])).stdout).toBe(`${JSON.stringify({ loggedOut: false, email: null, tokenValidUntil: null }, null, 2)}\n`);
  });
});
