// Rotation of the key-encryption key survives a killed provisioning service (issue 15, item 6): the
// real `hotdash-ops` bin against a gateway and a provisioning service started as processes, the
// service with the spec's own master keys [spec-new (current), spec-old, dev] and small batches. The
// spec's 200 tenants' data keys are under spec-old (no other tenant's key is touched: every rotation
// names --from spec-old). One key in the middle is held locked by the spec, so the run stops there
// after a known number of batches (no sleep: its progress is polled); the service is SIGKILLed there,
// the lock released, the service started again, and the run (its BullMQ job taken over) finishes:
// every key re-wrapped exactly once (counts exact, the keys re-wrapped before the kill not re-wrapped
// again), the same data keys (key checks), tokens made before still decrypt with the new KEK alone.
// While it is stopped, a second rotation is refused (409, exit 1) and bad input gets a 4xx
// problem+json with a stable code, changing nothing. The spec removes what it made.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { KeyProblems, keyRotationDryRun, keyRotationRun, keysStatus, type TenantId } from '@hotdash/contracts';
import { DEV_MASTER_KEY_BASE64, DEV_MASTER_KEY_ID, FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { cliDoc, createPlatformOperator, opsCli, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, waitFor } from '@hotdash/testing';
import type { Client } from 'pg';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3341';
const PROVISIONING = 'http://127.0.0.1:3342';
const world = new TestWorld();
const run = newId().replace(/-/g, '').slice(-10);
const OLD = `spec-old-${run}`;
const NEW = `spec-new-${run}`;
const keys = { old: randomBytes(32), new: randomBytes(32) };
const QUEUE = `spec-kek-kill-${run}`;
const KEYS = 200;
const BATCH = 10;
/** The key the spec holds locked: the run stops after the batches before it. */
const LOCKED_AT = 105;
const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-keys-spec-'));
const cli = opsCli(configHome, GATEWAY, 100_000);

const provisioning = {
  entry: 'apps/provisioning/src/main.ts',
  env: {
    HOTDASH_PROVISIONING_PORT: '3342',
    HOTDASH_KMS_MASTER_KEYS: `${NEW}:${keys.new.toString('base64')},${OLD}:${keys.old.toString('base64')},${DEV_MASTER_KEY_ID}:${DEV_MASTER_KEY_BASE64}`,
    HOTDASH_KEY_ROTATION_BATCH: String(BATCH),
    HOTDASH_SAGA_QUEUE: QUEUE,
  },
  url: PROVISIONING,
};
let gateway: ServiceProcess | undefined;
let service: ServiceProcess | undefined;
let ops: { id: string; email: string };
let tenants: TenantId[] = [];
const runs: string[] = [];
const before = new Map<TenantId, { check: string; token: string }>();

const rotationRow = (id: string) => world.dbs.controlDb().selectFrom('kek_rotations').select(['status', 'rewrapped', 'total']).where('id', '=', id).executeTakeFirstOrThrow();
const keyRows = () => world.dbs.controlDb().selectFrom('tenant_keys').select(['tenant_id', 'kek_id', 'wrapped_key']).where('tenant_id', 'in', tenants).orderBy('tenant_id').execute();
const opsRows = () => world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'outcome']).where('actor', '=', `ops:${ops.id}`).orderBy('at').execute();

/** The spec's tenants, each with a data key under the old KEK, a key check and a token made under it. */
async function makeTenants(): Promise<void> {
  const oldKeyring = new TenantKeyring(world.dbs, new LocalKms([{ id: OLD, key: keys.old }]));
  const cipher = new FieldCipher(oldKeyring);
  for (let i = 0; i < KEYS; i += 20) {
    const made = await Promise.all(
      Array.from({ length: Math.min(20, KEYS - i) }, async (_, j) => {
        const t = await world.createTenant(`kek kill ${run} ${i + j}`);
        await world.dbs.withControl((tx) => oldKeyring.createKey(tx, t.id));
        before.set(t.id, { check: await oldKeyring.keyCheck(t.id), token: await cipher.encrypt(t.id, 'note', `secret of ${t.id}`) });
        return t.id;
      }),
    );
    tenants.push(...made);
  }
  tenants = [...tenants].sort();
}

beforeAll(async () => {
  // The services start while the keys are made (their start is most of the spec's time).
  const starting = startServices([{ entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3341', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY }, provisioning]).then((p) => ([gateway, service] = p));
  for (const r of await Promise.allSettled([starting, makeTenants()])) if (r.status === 'rejected') throw r.reason;
  ops = await createPlatformOperator(world);
  expect((await cli(['login', ops.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
}, 90_000);

afterAll(async () => {
  await Promise.all([gateway?.stop(), service?.stop()]);
  const queue = new Queue(QUEUE, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
  await queue.obliterate({ force: true }).finally(() => queue.close());
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query('delete from sagas where id = any($1::uuid[])', [runs]);
    await owner.query('delete from kek_rotations where id = any($1::uuid[])', [runs]);
    if (ops) {
      await owner.query('delete from ops_actions where actor = $1', [`ops:${ops.id}`]);
      await owner.query('delete from platform_operators where id = $1', [ops.id]);
    }
    await owner.query('delete from tenant_keys where tenant_id = any($1::uuid[])', [tenants]);
    await owner.query('delete from tenant_placements where tenant_id = any($1::uuid[])', [tenants]);
    await owner.query('delete from tenants where id = any($1::uuid[])', [tenants]);
  } finally {
    await owner.end();
  }
  await world.close();
  rmSync(configHome, { recursive: true, force: true });
}, 60_000);

it('re-wraps every key exactly once across a SIGKILL of the provisioning service, refusing a second run and bad input meanwhile', async () => {
  const dry = keyRotationDryRun.parse(cliDoc(await cli(['keys', 'rotate', '--from', OLD, '--dry-run', '--json'])));
  expect(dry).toEqual({ dryRun: true, toKekId: NEW, fromKekId: OLD, total: KEYS, keks: [{ kekId: OLD, keys: KEYS }] });

  // The spec holds one key in the middle locked: the run stops in the batch that holds it.
  const lock: Client = await world.connect(world.dbs.controlLocation, 'owner');
  let locked = true;
  try {
    await lock.query('begin');
    await lock.query('select 1 from tenant_keys where tenant_id = $1 for update', [tenants[LOCKED_AT]]);

    const started = cliDoc(await cli(['keys', 'rotate', '--from', OLD, '--no-wait', '--json']));
    const first = keyRotationRun.parse(started);
    runs.push(first.id);
    expect(first).toMatchObject({ status: 'running', fromKekId: OLD, toKekId: NEW, total: KEYS });
    const batchesBefore = Math.floor(LOCKED_AT / BATCH) * BATCH;
    await waitFor(`the run to re-wrap the ${batchesBefore} keys before the locked one`, async () => (await rotationRow(first.id)).rewrapped === batchesBefore, 30_000, 50);

    // Meanwhile: a second rotation is refused, bad input too, nothing written by either.
    const status = keysStatus.parse(cliDoc(await cli(['keys', 'status', '--json'])));
    expect(status).toMatchObject({ currentKekId: NEW, runningRotation: first.id });
    expect(status.keks).toEqual(expect.arrayContaining([{ kekId: OLD, keys: KEYS - batchesBefore, current: false }]));
    const again = await cli(['keys', 'rotate', '--from', OLD, '--json']);
    expect([again.code, cliDoc(again).error]).toEqual([1, expect.objectContaining({ code: KeyProblems.ROTATION_RUNNING, status: 409 })]);
    const badArg = await cli(['keys', 'rotate', '--from', 'not a kek!', '--json']);
    expect(badArg.code).toBe(2);
    const token = ((await (await fetch(`${GATEWAY}/ops/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ops.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string }).accessToken;
    const post = async (body: string) => {
      const r = await fetch(`${GATEWAY}/ops/keys/rotations`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
      return { status: r.status, type: r.headers.get('content-type')?.split(';')[0], code: ((await r.json()) as { code?: string }).code };
    };
    expect(await post('{"fromKekId":')).toEqual({ status: 400, type: 'application/problem+json', code: 'malformed-json' });
    expect(await post('{}')).toEqual({ status: 400, type: 'application/problem+json', code: 'validation-failed' });
    expect(await post(JSON.stringify({ fromKekId: OLD, dryRun: false, batch: 5 }))).toEqual({ status: 400, type: 'application/problem+json', code: 'unknown-field' });
    expect(await post(JSON.stringify({ fromKekId: `nothing-${run}`, dryRun: false }))).toEqual({ status: 422, type: 'application/problem+json', code: KeyProblems.KEK_UNKNOWN });
    const spec = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths['/ops/keys/rotations'] ?? {})).toContain('post');
    expect(Object.keys(spec.paths['/ops/keys/rotations/{id}'] ?? {})).toContain('get');
    expect(Object.keys(spec.paths['/ops/keys'] ?? {})).toContain('get');

    // The kill, mid-run: the keys re-wrapped so far, as they are now.
    await service!.kill();
    const atKill = new Map((await keyRows()).filter((r) => r.kek_id === NEW).map((r) => [r.tenant_id, Buffer.from(r.wrapped_key!).toString('hex')]));
    expect(atKill.size).toBe(batchesBefore);
    expect(await rotationRow(first.id)).toMatchObject({ status: 'running', rewrapped: batchesBefore });
    await lock.query('rollback');
    locked = false;

    [service] = await startServices([provisioning]);
    const followed = await cli(['keys', 'rotation', first.id], { HOTDASH_OPS_PROGRESS: 'always' });
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain(`Key rotation ${first.id} to ${NEW} (from ${OLD}): succeeded, ${KEYS}/${KEYS} re-wrapped, 0 remaining`);
    expect(followed.stderr).toMatch(/progress: \d+\/200 /);

    const done = keyRotationRun.parse(cliDoc(await cli(['keys', 'rotation', first.id, '--json'])));
    expect(done).toMatchObject({ status: 'succeeded', total: KEYS, rewrapped: KEYS, remaining: 0, keks: [{ kekId: OLD, total: KEYS, rewrapped: KEYS }], code: null, error: null });
    const rows = await keyRows();
    expect([rows.length, rows.filter((r) => r.kek_id === NEW).length]).toEqual([KEYS, KEYS]);
    // Exactly once: the keys re-wrapped before the kill were not re-wrapped again.
    for (const [id, hex] of atKill) expect(Buffer.from(rows.find((r) => r.tenant_id === id)!.wrapped_key!).toString('hex')).toBe(hex);
    // Nothing lost: the same data keys, readable with the new KEK alone.
    const keyring = new TenantKeyring(world.dbs, new LocalKms([{ id: NEW, key: keys.new }]));
    const cipher = new FieldCipher(keyring);
    for (const id of tenants) {
      expect(await keyring.keyCheck(id)).toBe(before.get(id)!.check);
      expect(await cipher.decrypt(id, 'note', before.get(id)!.token)).toBe(`secret of ${id}`);
    }
    expect((await opsRows()).map((a) => `${a.action} ${a.outcome}`)).toEqual(['keys.rotate started', `keys.rotate ${KeyProblems.ROTATION_RUNNING}`, 'keys.rotate done']);
  } finally {
    if (locked) await lock.query('rollback').catch(() => undefined);
    await lock.end();
  }
});
