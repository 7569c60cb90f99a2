// Rotation of the key-encryption key (issue 15, item 6) through provisioning's API, in process,
// against the real control plane and Redis: the spec's tenants get data keys under a spec-unique old
// KEK; the service runs with [spec-new, spec-old, dev] (the new one current), so it still reads every
// other tenant's key of the shared database, and every rotation here names its fromKekId (no other
// tenant's key is ever touched). A run re-wraps every live key in batches, the data keys unchanged
// (same key check; tokens made before still decrypt with the new KEK alone), destroyed keys skipped,
// counts exact, start and finish in ops_actions; a second start while one runs is 409; bad input is a
// 4xx problem with a stable code and changes nothing; a key under a KEK the service no longer holds
// stops the run with kek-not-configured, naming the KEK and what to do.
import { randomBytes } from 'node:crypto';
import { INestApplication, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import { KeyProblems, keyRotationDryRun, keyRotationRun, keysStatus, type KeyRotationRun, type TenantId } from '@hotdash/contracts';
import { DEV_MASTER_KEY_BASE64, DEV_MASTER_KEY_ID, FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { SagaEngine } from '@hotdash/platform-jobs';
import { internalAuthorization, opsCaller, TestWorld, waitFor } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';

jest.setTimeout(60_000);

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld({ poolSize: 4 });
const run = newId().replace(/-/g, '').slice(-10);
const operator = `kek-rotation-${run}`;
const actor = `ops:${operator}`;
const OLD = `spec-old-${run}`;
const NEW = `spec-new-${run}`;
const LOST = `spec-lost-${run}`;
const keys = { old: randomBytes(32), new: randomBytes(32), lost: randomBytes(32) };
const b64 = (k: Buffer) => k.toString('base64');
const oldKms = new LocalKms([{ id: OLD, key: keys.old }]);
const lostKms = new LocalKms([{ id: LOST, key: keys.lost }]);
/** The new KEK alone: what reads the keys once they are re-wrapped (no old key needed). */
const newOnly = () => new TenantKeyring(world.dbs, new LocalKms([{ id: NEW, key: keys.new }]), { cacheTtlMs: 0 });
const KEYS = 23;
const BATCH = 5;

const env = { HOTDASH_KMS_MASTER_KEYS: `${NEW}:${b64(keys.new)},${OLD}:${b64(keys.old)},${DEV_MASTER_KEY_ID}:${DEV_MASTER_KEY_BASE64}`, HOTDASH_KEY_ROTATION_BATCH: String(BATCH), HOTDASH_SAGA_QUEUE: `spec-kek-${run}` };
const saved: Record<string, string | undefined> = {};
const tenants: TenantId[] = [];
const lostTenants: TenantId[] = [];
let destroyedTenant: TenantId;
const runs: string[] = [];
/** Per tenant: the key check and a token made under the old KEK. */
const before = new Map<TenantId, { check: string; token: string }>();
let app: INestApplication;
let base: string;

const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller(operator)) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
const problem = async (res: Response) => ({ status: res.status, type: res.headers.get('content-type')?.split(';')[0], code: ((await res.json()) as { code?: string }).code });
const keyRows = (ids: TenantId[]) => world.dbs.controlDb().selectFrom('tenant_keys').select(['tenant_id', 'kek_id', 'destroyed_at']).where('tenant_id', 'in', ids).execute();
const rotation = async (id: string) => keyRotationRun.parse(await (await call('GET', `/keys/rotations/${id}`)).json());
const opsRows = () => world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'outcome', 'detail']).where('actor', '=', actor).orderBy('at').execute();

beforeAll(async () => {
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const oldKeyring = new TenantKeyring(world.dbs, oldKms);
  const cipher = new FieldCipher(oldKeyring);
  for (let i = 0; i < KEYS; i++) {
    const t = await world.createTenant(`kek spec ${run} ${i}`);
    await world.dbs.withControl((tx) => oldKeyring.createKey(tx, t.id));
    before.set(t.id, { check: await oldKeyring.keyCheck(t.id), token: await cipher.encrypt(t.id, 'note', `secret of ${i}`) });
    tenants.push(t.id);
  }
  // A destroyed key under the old KEK: nothing to re-wrap, it stays as it is.
  destroyedTenant = (await world.createTenant(`kek spec ${run} destroyed`)).id;
  await world.dbs.withControl((tx) => oldKeyring.createKey(tx, destroyedTenant));
  await oldKeyring.destroyKey(destroyedTenant);
  // Keys under a KEK the service does not hold.
  const lostKeyring = new TenantKeyring(world.dbs, lostKms);
  for (let i = 0; i < 3; i++) {
    const t = await world.createTenant(`kek spec ${run} lost ${i}`);
    await world.dbs.withControl((tx) => lostKeyring.createKey(tx, t.id));
    lostTenants.push(t.id);
  }
  app = await createHttpApp(TestAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});

afterAll(async () => {
  await app?.close();
  const queue = new Queue(env.HOTDASH_SAGA_QUEUE, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
  await queue.obliterate({ force: true }).finally(() => queue.close());
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    const all = [...tenants, ...lostTenants, ...(destroyedTenant ? [destroyedTenant] : [])];
    await owner.query('delete from sagas where id = any($1::uuid[])', [runs]);
    await owner.query('delete from kek_rotations where id = any($1::uuid[])', [runs]);
    await owner.query('delete from ops_actions where actor = $1', [actor]);
    await owner.query('delete from tenant_keys where tenant_id = any($1::uuid[])', [all]);
    await owner.query('delete from tenant_placements where tenant_id = any($1::uuid[])', [all]);
    await owner.query('delete from tenants where id = any($1::uuid[])', [all]);
  } finally {
    await owner.end();
  }
  await world.close();
});

it('refuses bad input with a 4xx problem and a stable code, changing nothing', async () => {
  const cases: [unknown, number, string][] = [
    [{}, 400, 'validation-failed'],
    [{ fromKekId: OLD }, 400, 'validation-failed'],
    [{ fromKekId: 'not a kek id!', dryRun: false }, 400, 'validation-failed'],
    [{ fromKekId: OLD, dryRun: false, extra: 1 }, 400, 'unknown-field'],
    [{ dryRun: 'yes' }, 400, 'validation-failed'],
    ['{"fromKekId":', 400, 'malformed-json'],
    [[OLD], 400, 'invalid-body'],
    [{ fromKekId: `nothing-${run}`, dryRun: false }, 422, KeyProblems.KEK_UNKNOWN],
    [{ fromKekId: NEW, dryRun: false }, 422, KeyProblems.KEK_IS_CURRENT],
  ];
  const seen = [];
  for (const [body, status, code] of cases) seen.push({ ...(await problem(await call('POST', '/keys/rotations', body))), want: { status, code } });
  for (const s of seen) expect({ status: s.status, code: s.code, type: s.type }).toEqual({ ...s.want, type: 'application/problem+json' });
  expect(await problem(await call('GET', '/keys/rotations/not-a-uuid'))).toMatchObject({ status: 400 });
  expect(await problem(await call('GET', `/keys/rotations/${newId()}`))).toMatchObject({ status: 404, code: 'not-found' });
  expect((await keyRows(tenants)).every((r) => r.kek_id === OLD)).toBe(true);
  expect(await opsRows()).toEqual([]);
});

it('counts the keys per KEK in a dry run and in the status, changing nothing', async () => {
  const res = await call('POST', '/keys/rotations', { fromKekId: OLD, dryRun: true });
  expect(res.status).toBe(200);
  expect(keyRotationDryRun.parse(await res.json())).toEqual({ dryRun: true, toKekId: NEW, fromKekId: OLD, total: KEYS, keks: [{ kekId: OLD, keys: KEYS }] });
  const status = keysStatus.parse(await (await call('GET', '/keys')).json());
  expect(status.currentKekId).toBe(NEW);
  expect(status.keks).toEqual(expect.arrayContaining([{ kekId: OLD, keys: KEYS, current: false }, { kekId: LOST, keys: 3, current: false }, { kekId: NEW, keys: 0, current: true }]));
  expect(status.keks[0]).toMatchObject({ kekId: NEW, current: true });
  expect((await keyRows(tenants)).every((r) => r.kek_id === OLD)).toBe(true);
  expect(await opsRows()).toEqual([]);
});

it('re-wraps every live key under the new KEK in batches, the data keys unchanged, a second start refused while it runs', async () => {
  // No worker yet: the run waits, so a second start meets it running.
  const res = await call('POST', '/keys/rotations', { fromKekId: OLD, dryRun: false });
  expect(res.status).toBe(202);
  const started = keyRotationRun.parse(await res.json());
  runs.push(started.id);
  expect(started).toMatchObject({ status: 'running', actor, fromKekId: OLD, toKekId: NEW, total: KEYS, rewrapped: 0, remaining: KEYS, keks: [{ kekId: OLD, total: KEYS, rewrapped: 0 }] });
  const again = await call('POST', '/keys/rotations', { fromKekId: OLD, dryRun: false });
  const refused = (await again.json()) as { code: string; detail: string };
  expect([again.status, refused.code]).toEqual([409, KeyProblems.ROTATION_RUNNING]);
  expect(refused.detail).toContain(started.id);

  app.get(SagaEngine).startWorker();
  const seen = new Set<number>();
  const done = await waitFor('the rotation to finish', async () => {
    const r = await rotation(started.id);
    seen.add(r.rewrapped);
    return r.status !== 'running' && r;
  });
  expect(done).toMatchObject<Partial<KeyRotationRun>>({ status: 'succeeded', total: KEYS, rewrapped: KEYS, remaining: 0, keks: [{ kekId: OLD, total: KEYS, rewrapped: KEYS }], code: null, error: null });
  // Batches: the counts only ever moved by whole batches (or the last, smaller one).
  expect([...seen].every((n) => n % BATCH === 0 || n === KEYS)).toBe(true);

  const rows = await keyRows([...tenants, destroyedTenant]);
  const live = rows.filter((r) => r.tenant_id !== destroyedTenant);
  expect([live.length, live.filter((r) => r.kek_id === NEW && r.destroyed_at === null).length]).toEqual([KEYS, KEYS]);
  // The destroyed key was skipped: still destroyed, under the KEK it had.
  expect(rows.find((r) => r.tenant_id === destroyedTenant)).toMatchObject({ kek_id: OLD, destroyed_at: expect.any(Date) });
  // The same data keys, readable with the new KEK alone: same key check, old tokens decrypt.
  const keyring = newOnly();
  const cipher = new FieldCipher(keyring);
  for (const [i, id] of tenants.entries()) {
    expect(await keyring.keyCheck(id)).toBe(before.get(id)!.check);
    expect(await cipher.decrypt(id, 'note', before.get(id)!.token)).toBe(`secret of ${i}`);
  }
  const actions = await opsRows();
  expect(actions.map((a) => [a.action, a.outcome])).toEqual([
    ['keys.rotate', 'started'],
    ['keys.rotate', KeyProblems.ROTATION_RUNNING],
    ['keys.rotate', 'done'],
  ]);
  expect(actions.find((a) => a.outcome === 'done')!.detail).toMatchObject({ run: started.id, from: OLD, rewrapped: KEYS });
  // Nothing left under the old KEK: a dry run finds nothing.
  expect(keyRotationDryRun.parse(await (await call('POST', '/keys/rotations', { fromKekId: OLD, dryRun: true })).json())).toMatchObject({ total: 0, keks: [] });
});

it('stops at a key under a KEK the service no longer holds, naming it and what to do', async () => {
  const res = await call('POST', '/keys/rotations', { fromKekId: LOST, dryRun: false });
  expect(res.status).toBe(202);
  const started = keyRotationRun.parse(await res.json());
  runs.push(started.id);
  const failed = await waitFor('the rotation to stop', async () => {
    const r = await rotation(started.id);
    return r.status !== 'running' && r;
  });
  expect(failed).toMatchObject({ status: 'failed', code: KeyProblems.KEK_NOT_CONFIGURED, rewrapped: 0, remaining: 3 });
  expect(failed.error).toContain(`"${LOST}"`);
  expect(failed.error).toContain('put that master key back in HOTDASH_KMS_MASTER_KEYS');
  expect((await keyRows(lostTenants)).map((r) => r.kek_id)).toEqual([LOST, LOST, LOST]);
  const last = (await opsRows()).at(-1)!;
  expect([last.outcome, (last.detail as { run: string }).run]).toEqual([KeyProblems.KEK_NOT_CONFIGURED, started.id]);
  // A new rotation may start now (nothing is running).
  expect(keysStatus.parse(await (await call('GET', '/keys')).json()).runningRotation).toBeNull();
});
