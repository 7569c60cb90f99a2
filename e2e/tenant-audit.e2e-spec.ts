// First slice, across processes: provisioning and audit run as separate Node processes against the
// real PostgreSQL and Kafka. POST /tenants → control outbox → relay → Kafka → audit consumer →
// the tenant's hash-chained audit log (and audit.recorded back out through the shard's outbox).
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import { parseTenantId, Topics } from '@hotdash/contracts';
import { KafkaProbe, ServiceProcess, startProcess, TestWorld, waitFor } from '@hotdash/testing';

const PROV_PORT = 3201;
const AUDIT_PORT = 3207;
const world = new TestWorld();
const repo = new AuditLogRepository();
let provisioning: ServiceProcess;
let audit: ServiceProcess;
let probe: KafkaProbe;

async function healthy(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
}

beforeAll(async () => {
  provisioning = startProcess('apps/provisioning/src/main.ts', { HOTDASH_PROVISIONING_PORT: String(PROV_PORT) });
  audit = startProcess('apps/audit/src/main.ts', { HOTDASH_AUDIT_PORT: String(AUDIT_PORT) });
  probe = await KafkaProbe.start(Topics.AUDIT);
  await waitFor('provisioning to be healthy', () => healthy(PROV_PORT), 60_000).catch((e) => {
    throw new Error(`${e.message}\n${provisioning.output()}`);
  });
  await waitFor('audit to be healthy', () => healthy(AUDIT_PORT), 60_000).catch((e) => {
    throw new Error(`${e.message}\n${audit.output()}`);
  });
}, 90_000);

afterAll(async () => {
  await Promise.all([provisioning?.stop(), audit?.stop()]);
  await probe?.close();
  await world.close();
}, 30_000);

async function signUp(name: string): Promise<{ id: string; shard: string }> {
  const res = await fetch(`http://127.0.0.1:${PROV_PORT}/tenants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hotdash-actor': 'ops:e2e' },
    body: JSON.stringify({ name, plan: 'basic' }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; shard: string };
}

it('records a created tenant in its audit log, verifiably, and announces it', async () => {
  const a = await signUp('E2E Tenant A');
  const tenantId = parseTenantId(a.id);
  const entries = await waitFor(
    'the audit entry of tenant.created',
    async () => {
      const rows = await world.tenantDb.withTenant(tenantId, (tx) => repo.page(tx, tenantId, 0, 10));
      return rows.length > 0 ? rows : undefined;
    },
    30_000,
  ).catch((e) => {
    throw new Error(`${e.message}\n--- provisioning ---\n${provisioning.output().slice(-3000)}\n--- audit ---\n${audit.output().slice(-3000)}`);
  });
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ tenantId, seq: 1, eventType: 'tenant.created', actorId: 'ops:e2e', payload: { tenantId, name: 'E2E Tenant A', plan: 'basic' } });

  const verify = new VerifyAuditChainHandler(world.tenantDb, repo);
  expect(await verify.execute(tenantId)).toEqual({ ok: true, checked: 1 });

  const announced = await waitFor('audit.recorded on Kafka', async () => probe.envelopes().find((e) => e.tenantId === tenantId && e.type === 'audit.recorded'), 30_000);
  expect(announced.payload).toMatchObject({ entryId: entries[0]!.id, seq: 1, sourceEventType: 'tenant.created', hash: entries[0]!.hash });
}, 60_000);

it('as tenant B, sees none of tenant A audit entries', async () => {
  const [a, b] = [await signUp('E2E Isolation A'), await signUp('E2E Isolation B')];
  const idA = parseTenantId(a.id);
  const idB = parseTenantId(b.id);
  await waitFor('both audit entries', async () => {
    const na = await world.tenantDb.withTenant(idA, (tx) => repo.page(tx, idA, 0, 10));
    const nb = await world.tenantDb.withTenant(idB, (tx) => repo.page(tx, idB, 0, 10));
    return na.length === 1 && nb.length === 1;
  });
  // Asking for A's rows from inside B's context, through the repository and raw SQL alike.
  const viaRepo = await world.tenantDb.withTenant(idB, (tx) => repo.page(tx, idA, 0, 10));
  expect(viaRepo).toEqual([]);
  const viaEvent = await world.tenantDb.withTenant(idB, async (tx) => {
    const entryOfA = await world.tenantDb.withTenantOnShard(await world.router.shardOf(idA), idA, (txA) => repo.page(txA, idA, 0, 1));
    return repo.findByEvent(tx, idA, entryOfA[0]!.eventId);
  });
  expect(viaEvent).toBeUndefined();
  const raw = await world.tenantDb.withTenant(idB, (tx) => tx.$queryRaw<{ n: number }[]>`select count(*)::int as n from audit_log where tenant_id = ${idA}::uuid`);
  expect(raw[0]!.n).toBe(0);
}, 60_000);
