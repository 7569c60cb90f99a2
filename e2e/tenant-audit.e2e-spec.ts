// First slice, across processes: provisioning, the relay and audit run as separate Node processes
// against the real PostgreSQL and Kafka. POST /tenants → control outbox → relay → Kafka → audit consumer →
// the tenant's hash-chained audit log (and audit.recorded back out through the shard's outbox).
import { sql } from 'kysely';
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import { parseTenantId, Topics } from '@hotdash/contracts';
import { KafkaProbe, opsCaller, serviceFetch, ServiceProcess, startProcess, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

const PROV_PORT = 3201;
const AUDIT_PORT = 3207;
const RELAY_PORT = 3262;
const world = new TestWorld();
const namespaces = VectorNamespaces.local(world.config); // the sign-ups' knowledge namespaces, deleted at the end
const repo = new AuditLogRepository();
let provisioning: ServiceProcess;
let audit: ServiceProcess;
let relay: ServiceProcess;
let probe: KafkaProbe;

async function healthy(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
}

beforeAll(async () => {
  provisioning = startProcess('apps/provisioning/src/main.ts', { HOTDASH_PROVISIONING_PORT: String(PROV_PORT) });
  audit = startProcess('apps/audit/src/main.ts', { HOTDASH_AUDIT_PORT: String(AUDIT_PORT) });
  relay = startProcess('apps/relay/src/main.ts', { HOTDASH_RELAY_PORT: String(RELAY_PORT) });
  // Only what is produced from here (the topic's history, every earlier run's, is not this spec's).
  probe = await KafkaProbe.start(Topics.AUDIT, { from: 'end' });
  await waitFor('provisioning to be healthy', () => healthy(PROV_PORT), 60_000).catch((e) => {
    throw new Error(`${e.message}\n${provisioning.output()}`);
  });
  await waitFor('audit to be healthy', () => healthy(AUDIT_PORT), 60_000).catch((e) => {
    throw new Error(`${e.message}\n${audit.output()}`);
  });
  await waitFor('relay to be healthy', () => healthy(RELAY_PORT), 60_000).catch((e) => {
    throw new Error(`${e.message}\n${relay.output()}`);
  });
}, 90_000);

afterAll(async () => {
  await Promise.all([provisioning?.stop(), audit?.stop(), relay?.stop()]);
  await probe?.close();
  await namespaces.deleteAll();
  await world.close();
}, 30_000);

// As the gateway calls provisioning for platform operator e2e (actor ops:e2e).
const asOps = serviceFetch('provisioning', opsCaller('e2e'));

async function signUp(name: string): Promise<{ id: string }> {
  const res = await asOps(`http://127.0.0.1:${PROV_PORT}/tenants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, plan: 'basic', admin: { email: `admin@${name.replace(/\W/g, '').toLowerCase()}.test` } }),
  });
  expect(res.status).toBe(202);
  const accepted = (await res.json()) as { tenantId: string };
  namespaces.track(accepted.tenantId);
  await waitFor(`${name} to be provisioned`, async () => {
    const view = (await (await asOps(`http://127.0.0.1:${PROV_PORT}/tenants/${accepted.tenantId}/provisioning`)).json()) as { status: string };
    return view.status === 'provisioned';
  }, 60_000).catch((e) => {
    throw new Error(`${e.message}\n--- provisioning ---\n${provisioning.output().slice(-3000)}`);
  });
  return { id: accepted.tenantId };
}

/**
 * What a sign-up leaves in the tenant's audit chain. The saga's own events come from the control
 * plane's outbox in this order; the steps' facts (the first admin invited, the drafting profile)
 * come from the shard's outbox, relayed on their own, so they interleave with the saga's anywhere.
 */
const SAGA_TRAIL = [
  'tenant.provisioning.started',
  'tenant.created',
  ...['tenant-record', 'admin-user', 'knowledge-namespace', 'default-workflows', 'model-configuration', 'initial-documents'].map(() => 'tenant.provisioning.step-completed'),
  'tenant.activated',
  'tenant.provisioning.step-completed',
  'tenant.provisioned',
];
// Facts the steps publish in the shard's outbox: their order among the saga's control events is not fixed (sorted here).
const STEP_FACTS = ['operator.invited', 'tenant.approval-workflows-changed', 'tenant.settings-changed'];
const PROVISIONING_TRAIL = [...SAGA_TRAIL, ...STEP_FACTS];

it('records the whole provisioning of a tenant in its audit log, verifiably, and announces each entry', async () => {
  const a = await signUp('E2E Tenant A');
  const tenantId = parseTenantId(a.id);
  const entries = await waitFor(
    'the audit trail of the provisioning',
    async () => {
      const rows = await world.tenantDb.withTenant(tenantId, (tx) => repo.page(tx, tenantId, 0, 100));
      return rows.length >= PROVISIONING_TRAIL.length ? rows : undefined;
    },
    30_000,
  ).catch((e) => {
    throw new Error(`${e.message}\n--- provisioning ---\n${provisioning.output().slice(-3000)}\n--- audit ---\n${audit.output().slice(-3000)}`);
  });
  expect(entries.map((e) => e.eventType).filter((t) => !STEP_FACTS.includes(t))).toEqual(SAGA_TRAIL);
  expect(entries.map((e) => e.eventType).filter((t) => STEP_FACTS.includes(t)).sort()).toEqual(STEP_FACTS);
  expect(entries.map((e) => e.seq)).toEqual(PROVISIONING_TRAIL.map((_, i) => i + 1));
  const created = entries.find((e) => e.eventType === 'tenant.created')!;
  expect(created).toMatchObject({ tenantId, payload: { tenantId, name: 'E2E Tenant A', plan: 'basic' } });

  const verify = new VerifyAuditChainHandler(world.tenantDb, repo);
  expect(await verify.execute(tenantId)).toEqual({ ok: true, checked: PROVISIONING_TRAIL.length });

  const announced = await waitFor('audit.recorded on Kafka', async () => {
    const mine = probe.envelopes().filter((e) => e.tenantId === tenantId && e.type === 'audit.recorded');
    return mine.length >= PROVISIONING_TRAIL.length ? mine : undefined;
  }, 30_000);
  expect(announced.map((e) => (e.payload as { seq: number }).seq).sort((x, y) => x - y)).toEqual(PROVISIONING_TRAIL.map((_, i) => i + 1));
}, 90_000);

it('provisions 50 tenants concurrently across processes, each with its whole saga trail in its own verified audit log', async () => {
  const tenants = await Promise.all(Array.from({ length: 50 }, (_, i) => signUp(`E2E Concurrent ${i}`)));
  const verify = new VerifyAuditChainHandler(world.tenantDb, repo);
  for (const t of tenants) {
    const tenantId = parseTenantId(t.id);
    const entries = await waitFor(`the audit trail of ${tenantId}`, async () => {
      const rows = await world.tenantDb.withTenant(tenantId, (tx) => repo.page(tx, tenantId, 0, 100));
      return rows.length >= PROVISIONING_TRAIL.length ? rows : undefined;
    }, 60_000);
    expect(entries.map((e) => e.eventType).filter((x) => !STEP_FACTS.includes(x))).toEqual(SAGA_TRAIL);
    expect(entries.map((e) => e.eventType).filter((x) => STEP_FACTS.includes(x)).sort()).toEqual(STEP_FACTS);
    expect(entries.every((e) => e.tenantId === tenantId)).toBe(true);
    expect(await verify.execute(tenantId)).toEqual({ ok: true, checked: PROVISIONING_TRAIL.length });
  }
  // Exactly one admin each, in its own shard.
  for (const t of tenants) {
    const admins = await world.tenantDb.withTenant(parseTenantId(t.id), (tx) => sql<{ n: number }>`select count(*)::int as n from users where role = 'admin'`.execute(tx.db).then((r) => r.rows));
    expect(admins[0]!.n).toBe(1);
  }
}, 240_000);

it('as tenant B, sees none of tenant A audit entries', async () => {
  const [a, b] = [await signUp('E2E Isolation A'), await signUp('E2E Isolation B')];
  const idA = parseTenantId(a.id);
  const idB = parseTenantId(b.id);
  await waitFor('both audit trails', async () => {
    const na = await world.tenantDb.withTenant(idA, (tx) => repo.page(tx, idA, 0, 100));
    const nb = await world.tenantDb.withTenant(idB, (tx) => repo.page(tx, idB, 0, 100));
    return na.length >= PROVISIONING_TRAIL.length && nb.length >= PROVISIONING_TRAIL.length;
  }, 30_000);
  // Asking for A's rows from inside B's context, through the repository and raw SQL alike.
  const viaRepo = await world.tenantDb.withTenant(idB, (tx) => repo.page(tx, idA, 0, 100));
  expect(viaRepo).toEqual([]);
  const viaEvent = await world.tenantDb.withTenant(idB, async (tx) => {
    const entryOfA = await world.tenantDb.withTenantOnShard(await world.router.shardOf(idA), idA, (txA) => repo.page(txA, idA, 0, 1));
    return repo.findByEvent(tx, idA, entryOfA[0]!.eventId);
  });
  expect(viaEvent).toBeUndefined();
  const raw = await world.tenantDb.withTenant(idB, (tx) => sql<{ n: number }>`select count(*)::int as n from audit_log where tenant_id = ${idA}::uuid`.execute(tx.db).then((r) => r.rows));
  expect(raw[0]!.n).toBe(0);
}, 60_000);
