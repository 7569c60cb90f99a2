// The shard registry and migrations through the gateway (gateway and provisioning as separate
// processes): a platform operator registers a scratch database as a shard, lists it with its live
// figures, drains, activates and retires it, and reads and dry-runs the migrations of every
// database (a run answers 202 at once and is followed by polling); a tenant's credential gets 403
// on every one of these routes and no credential 401; failed checks and bad input are
// problem+json with stable codes; the OpenAPI document describes the routes with their bodies,
// path parameters and answers. The scratch shard is dedicated (no
// sign-up lands on it by itself) and removed in afterAll.
import { createAccount, createEmptyShardDatabase, createPlatformOperator, dropScratchShards, scratchDatabaseName, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, waitFor } from '@hotdash/testing';
import { newId } from '@hotdash/platform-db';

const GATEWAY = 'http://127.0.0.1:3287';
const PROVISIONING = 'http://127.0.0.1:3288';
const world = new TestWorld();
const database = scratchDatabaseName('e2e');
const name = `spec-e2e-${newId().replace(/-/g, '').slice(-10)}`;
let processes: ServiceProcess[] = [];
let opsToken: string;
let opsId: string;
let tenantToken: string;

async function call(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: (res.headers.get('content-type') ?? '').split(';')[0], body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
}

const registration = (over: Record<string, unknown> = {}) => ({ name, host: world.config.db.controlHost, port: world.config.db.controlPort, database, kind: 'dedicated', region: 'eu-e2e-1', ...over });

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3287', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3288' }, url: PROVISIONING },
  ]);
  await createEmptyShardDatabase(world, database);
  const ops = await createPlatformOperator(world);
  opsId = ops.id;
  opsToken = (await call('POST', '/ops/login', undefined, { email: ops.email, password: TEST_PASSWORD })).body!.accessToken as string;
  const tenant = await createAccount(world, 'admin');
  tenantToken = (await call('POST', '/auth/login', undefined, { tenant: tenant.slug, email: tenant.email, password: TEST_PASSWORD })).body!.accessToken as string;
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query('delete from ops_actions where actor = $1', [`ops:${opsId}`]);
    await owner.query('delete from migration_runs where actor = $1', [`ops:${opsId}`]);
  } finally {
    await owner.end();
  }
  await dropScratchShards(world, [name], [database]);
  await world.close();
}, 60_000);

const ROUTES: [string, string, unknown][] = [
  ['GET', '/ops/shards', undefined],
  ['POST', '/ops/shards', {}],
  ['POST', `/ops/shards/${name}/drain`, undefined],
  ['POST', `/ops/shards/${name}/activate`, undefined],
  ['POST', `/ops/shards/${name}/retire`, undefined],
  ['GET', '/ops/migrations', undefined],
  ['POST', '/ops/migrations', { dryRun: true }],
  ['GET', `/ops/migrations/runs/${newId()}`, undefined],
];

it('refuses every shard and migration route to a tenant credential (403) and to no credential (401)', async () => {
  for (const [method, path, body] of ROUTES) {
    const asTenant = await call(method, path, tenantToken, body);
    expect([method, path, asTenant.status, asTenant.body?.code]).toEqual([method, path, 403, 'ops-token-required']);
    const anonymous = await call(method, path, undefined, body);
    expect([method, path, anonymous.status, anonymous.body?.code]).toEqual([method, path, 401, 'missing-credentials']);
  }
});

it('describes the routes in the OpenAPI document: ops security, bodies, path parameters and answers', async () => {
  const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  const register = doc.paths['/ops/shards']!.post!;
  expect(register).toMatchObject({ 'x-ops': true, security: [{ opsBearer: [] }], requestBody: { content: { 'application/json': { schema: { required: expect.arrayContaining(['name', 'host', 'port', 'database', 'kind', 'region']) } } } } });
  expect(Object.keys(register.responses as object)).toEqual(expect.arrayContaining(['201', '409', '422']));
  expect(doc.paths['/ops/shards/{name}/retire']!.post).toMatchObject({ parameters: [{ name: 'name', in: 'path', schema: { type: 'string', pattern: expect.any(String) } }], responses: { '409': expect.anything() } });
  expect(doc.paths['/ops/shards']!.get).toMatchObject({ responses: { '200': { content: { 'application/json': { schema: { properties: { shards: { type: 'array' } } } } } } } });
  expect(doc.paths['/ops/migrations']!.post).toMatchObject({ requestBody: { content: { 'application/json': { schema: { required: ['dryRun'] } } } }, responses: { '202': { content: { 'application/json': { schema: { properties: { status: expect.anything() } } } } }, '409': expect.anything() } });
  expect(doc.paths['/ops/migrations/runs/{id}']!.get).toMatchObject({ 'x-ops': true, parameters: [{ name: 'id', in: 'path' }], responses: { '200': { content: { 'application/json': { schema: { properties: { databases: { type: 'array' }, result: expect.anything() } } } } } } });
});

it('lets a platform operator register a shard, list it, drain, activate and retire it', async () => {
  const unreachable = await call('POST', '/ops/shards', opsToken, registration({ port: 1 }));
  expect([unreachable.status, unreachable.type, unreachable.body?.code]).toEqual([422, 'application/problem+json', 'shard-unreachable']);
  const bad = await call('POST', '/ops/shards', opsToken, registration({ kind: 'huge' }));
  expect([bad.status, bad.body?.code]).toEqual([400, 'validation-failed']);

  const created = await call('POST', '/ops/shards', opsToken, registration());
  expect([created.status, created.body?.outcome]).toEqual([201, 'registered']);
  expect(created.body?.shard).toMatchObject({ name, database, kind: 'dedicated', status: 'active', region: 'eu-e2e-1' });
  const again = await call('POST', '/ops/shards', opsToken, registration());
  expect([again.status, again.body?.outcome]).toEqual([200, 'unchanged']);
  const taken = await call('POST', '/ops/shards', opsToken, registration({ region: 'us-e2e-1' }));
  expect([taken.status, taken.body?.code]).toEqual([409, 'shard-exists']);

  const drained = await call('POST', `/ops/shards/${name}/drain`, opsToken);
  expect([drained.status, drained.body?.changed, (drained.body?.shard as { status: string }).status]).toEqual([200, true, 'draining']);
  const list = await call('GET', '/ops/shards', opsToken);
  expect(list.status).toBe(200);
  const mine = (list.body!.shards as Record<string, unknown>[]).find((s) => s.name === name);
  expect(mine).toMatchObject({ status: 'draining', tenantCount: 0, schema: { pending: [] }, relayLag: { unpublished: 0, oldestUnpublishedSeconds: null }, error: null });
  expect(mine!.databaseSizeBytes).toBeGreaterThan(0);

  expect((await call('POST', `/ops/shards/${name}/activate`, opsToken)).body).toMatchObject({ changed: true, shard: { status: 'active' } });
  expect((await call('POST', `/ops/shards/${name}/retire`, opsToken)).body).toMatchObject({ changed: true, shard: { status: 'retired' } });
  const retired = await call('POST', `/ops/shards/${name}/activate`, opsToken);
  expect([retired.status, retired.type, retired.body?.code]).toEqual([409, 'application/problem+json', 'shard-retired']);
  expect((await call('POST', '/ops/shards/Not_A_Shard/drain', opsToken)).body?.code).toBe('invalid-shard-name');
  expect((await call('POST', `/ops/shards/${name}-missing/drain`, opsToken)).status).toBe(404);
}, 60_000);

it('shows and dry-runs the migrations of every database', async () => {
  const status = await call('GET', '/ops/migrations', opsToken);
  expect(status.status).toBe(200);
  const databases = status.body!.databases as { database: string; role: string; pending: string[] }[];
  expect(databases[0]).toMatchObject({ database: 'control', role: 'control' });
  expect(databases.find((d) => d.database === 'shard-1')).toMatchObject({ role: 'shard', pending: [] });
  // A run answers at once (202) and goes on in the background; its progress and result are polled.
  const started = await call('POST', '/ops/migrations', opsToken, { dryRun: true });
  expect([started.status, started.body?.status, started.body?.dryRun, started.body?.result]).toEqual([202, 'running', true, null]);
  const runPath = `/ops/migrations/runs/${started.body!.id as string}`;
  const finished = await waitFor('the dry run to finish', async () => {
    const r = await call('GET', runPath, opsToken);
    return r.status === 200 && r.body?.status !== 'running' && r.body;
  }, 30_000, 100);
  expect(finished).toMatchObject({ dryRun: true, actor: `ops:${opsId}`, result: { dryRun: true, databases: expect.arrayContaining([expect.objectContaining({ database: 'control', outcome: 'up-to-date' })]) } });
  expect((finished.databases as { state: string }[]).every((d) => d.state === 'done')).toBe(true);
  expect((await call('GET', `/ops/migrations/runs/${newId()}`, opsToken)).status).toBe(404);
  expect((await call('GET', '/ops/migrations/runs/not-a-uuid', opsToken)).status).toBe(400);
  const missing = await call('POST', '/ops/migrations', opsToken, {});
  expect([missing.status, missing.body?.code]).toEqual([400, 'validation-failed']);
}, 60_000);
