// A live tenant move through the ops command line end to end (issue 14, item 3): the real
// `hotdash-ops` bin against a gateway and provisioning started as separate processes. An operator
// dry-runs a move (the plan), is refused a move to the tenant's own shard (exit 1, the code and what
// to do), moves the tenant to the other shard (progress rows, exit 0) while the tenant's own API
// reads go on without a failure; the tenant is then served by the target, and every call is in the
// tenant's audit trail (the gateway's access entries and the move's outcome) on its new shard. A
// tenant's token is refused (403 ops-token-required, exit 3). The spec removes what it made.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { tenantMovePlan, tenantMoveRun, type TenantId } from '@hotdash/contracts';
import { publishTenantLimits, tenantLimitsKey } from '@hotdash/platform-auth';
import type { ShardInfo } from '@hotdash/platform-db';
import { CliResult, cliDoc, createAccount, createPlatformOperator, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, waitFor, opsCli } from '@hotdash/testing';

jest.setTimeout(180_000);

const GATEWAY = 'http://127.0.0.1:3291';
const PROVISIONING = 'http://127.0.0.1:3292';
const world = new TestWorld();
const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-moves-spec-'));
let processes: ServiceProcess[] = [];
let ops: { id: string; email: string };
let tenant: { tenantId: TenantId; slug: string; email: string };
let tenantToken: string;
let source: ShardInfo;
let target: ShardInfo;

const cli = opsCli(configHome, GATEWAY, 150_000);
const doc = cliDoc;

/** The access entries and outcomes of ops calls on the tenant waiting in its outbox (no relay runs here), wherever the tenant is served. */
const opsEntries = () =>
  world.tenantDb.withTenant(tenant.tenantId, async (tx) =>
    (await tx.db.selectFrom('outbox').select(['envelope']).where('type', '=', 'access.recorded').orderBy('seq').execute())
      .map((r) => r.envelope as unknown as { producer: string; payload: { actor: string; route: string; status: number } })
      .filter((e) => e.payload.actor === `ops:${ops.id}`)
      .map((e) => `${e.producer} ${e.payload.route} ${e.payload.status}`),
  );

beforeAll(async () => {
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    const { rows } = await su.query<{ w: string }>(`select current_setting('wal_level') as w`);
    if (rows[0]!.w !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so; restart the local cluster), the server runs with ${rows[0]!.w}`);
  } finally {
    await su.end();
  }
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3291', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3292' }, url: PROVISIONING },
  ]);
  ops = await createPlatformOperator(world);
  tenant = await createAccount(world, 'admin');
  // The reads below run without pause: the tenant's limits raised for it (removed at the end).
  const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
  try {
    await publishTenantLimits(redis, tenant.tenantId, { requestsPerMinute: 1_000_000, inFlight: 10_000 });
  } finally {
    redis.disconnect();
  }
  source = await world.router.shardOf(tenant.tenantId);
  target = (await world.shards()).find((s) => s.id !== source.id && s.status === 'active')!;
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: tenant.slug, email: tenant.email, password: TEST_PASSWORD }) });
  tenantToken = ((await res.json()) as { accessToken: string }).accessToken;
  expect((await cli(['login', ops.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  if (tenant) {
    const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
    await redis.del(tenantLimitsKey(tenant.tenantId)).finally(() => redis.disconnect());
    await world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(tenant.tenantId)]).as('e')).selectAll().execute());
    // The tombstone the move left on its source.
    for (const s of [source, target].filter(Boolean)) {
      const o = await world.connect(s, 'owner');
      try {
        await o.query(`select set_config('app.tenant_id', $1, false)`, [tenant.tenantId]);
        await o.query('delete from tenant_fences where tenant_id = $1', [tenant.tenantId]);
      } finally {
        await o.end();
      }
    }
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (tenant) {
      await owner.query(`delete from sagas where tenant_id = $1 and type = 'tenant-move'`, [tenant.tenantId]);
      await owner.query('delete from tenant_placements where tenant_id = $1', [tenant.tenantId]);
      await owner.query('delete from tenant_keys where tenant_id = $1', [tenant.tenantId]);
      await owner.query('delete from tenants where id = $1', [tenant.tenantId]);
    }
    if (ops) await owner.query('delete from platform_operators where id = $1', [ops.id]);
  } finally {
    await owner.end();
  }
  await world.close();
  rmSync(configHome, { recursive: true, force: true });
}, 60_000);

it('dry-runs, refuses and then moves a tenant live, its reads never failing, every call in its audit trail', async () => {
  const plan = tenantMovePlan.parse(doc(await cli(['tenants', 'move', tenant.tenantId, target.name, '--dry-run', '--json'])));
  expect(plan).toMatchObject({ dryRun: true, source: source.name, target: target.name, fromVersion: 1 });
  expect(plan.steps.map((s) => s.id)).toEqual(['fence-target', 'publish', 'slot', 'subscribe', 'initial-copy', 'catch-up', 'cut-over', 'drop-replication', 'post-verify', 'cleanup-source', 'finish']);

  const same = await cli(['tenants', 'move', tenant.tenantId, source.name, '--json']);
  expect([same.code, doc(same).error]).toEqual([1, expect.objectContaining({ code: 'move-same-shard', status: 409, hint: expect.any(String) })]);

  // The tenant's own reads through the gateway, without pause, while it moves.
  let reading = true;
  const failures: string[] = [];
  let reads = 0;
  const reader = (async () => {
    while (reading) {
      const r = await fetch(`${GATEWAY}/me`, { headers: { authorization: `Bearer ${tenantToken}` } });
      if (r.status === 200) reads++;
      else failures.push(`${r.status} ${await r.text()}`);
    }
  })();
  let moved: CliResult;
  try {
    moved = await cli(['tenants', 'move', tenant.tenantId, target.name], { HOTDASH_OPS_PROGRESS: 'always' });
  } finally {
    reading = false;
    await reader;
  }
  expect([moved.code, moved.stdout]).toEqual([0, expect.stringMatching(/: succeeded\n[\s\S]*served by/)]);
  expect(moved.stderr).toMatch(/progress: \d+\/11 [\s\S]*progress: 11\/11 succeeded/);
  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  expect((await world.router.placementOf(tenant.tenantId)).shard.id).toBe(target.id);

  const id = /Move ([0-9a-f-]{36})/.exec(moved.stdout)![1]!;
  const run = tenantMoveRun.parse(doc(await cli(['moves', 'watch', tenant.tenantId, id, '--json'])));
  expect(run).toMatchObject({ status: 'succeeded', source: source.name, target: target.name, decided: true, actor: `ops:${ops.id}` });

  await waitFor('the ops calls in the tenant’s audit trail', async () => {
    const e = await opsEntries();
    return [
      'gateway /ops/tenants/:tenantId/move 200',
      'gateway /ops/tenants/:tenantId/move 409',
      'gateway /ops/tenants/:tenantId/move 202',
      'provisioning /ops/tenants/:tenantId/move 200',
      'gateway /ops/tenants/:tenantId/moves/:runId 200',
    ].every((x) => e.includes(x));
  });
});

it('refuses a tenant’s token on the move routes (403 ops-token-required; the CLI exits 3)', async () => {
  const res = await fetch(`${GATEWAY}/ops/tenants/${tenant.tenantId}/move`, { method: 'POST', headers: { authorization: `Bearer ${tenantToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ shard: source.name }) });
  expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, 'ops-token-required']);
  const r = await cli(['tenants', 'move', tenant.tenantId, source.name, '--json'], { HOTDASH_OPS_TOKEN: tenantToken });
  expect([r.code, (doc(r).error as { code: string }).code]).toEqual([3, 'ops-token-required']);
});
