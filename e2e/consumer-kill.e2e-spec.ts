// Consumer kill: the audit service is SIGKILLed mid-batch 20 times while 2,000 events flow through
// outbox → relay → Kafka → audit. Every event's effect (its audit entry) is applied exactly once:
// the effects are exactly the produced ids, none missing, none twice, and every chain verifies.
import { sql } from 'kysely';
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import { TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { createKafkaClient, KafkaClientPort, OutboxRelay, publishInTx } from '@hotdash/platform-messaging';
import { deleteConsumerGroups, ServiceProcess, sleep, startProcess, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';

const EVENTS = 2_000;
const KILLS = 20;
const TENANTS = 8;
const PORT = 3217;

const world = new TestWorld();
const consumer = `audit-kill-${newId()}`;
const produced: string[] = [];
let tenants: WorldTenant[];
let kafka: KafkaClientPort;
let relays: OutboxRelay[] = [];
let audit: ServiceProcess | undefined;

function startAudit(): ServiceProcess {
  return startProcess('apps/audit/src/main.ts', {
    HOTDASH_AUDIT_PORT: String(PORT),
    HOTDASH_AUDIT_CONSUMER: consumer,
    HOTDASH_KAFKA_SESSION_TIMEOUT_MS: '6000',
  });
}

async function produce(count: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  // Several events per transaction, as real workloads do; round-robin over the tenants.
  for (let i = 0; i < count; i += 10) {
    const t = tenants[(i / 10) % TENANTS]!;
    await world.tenantDb.withTenant(t.id, async (tx) => {
      for (let j = i; j < Math.min(i + 10, count); j++) {
        const e = await publishInTx(tx, 'tenant.created', { tenantId: t.id, name: `${label} ${j}`, plan: 'basic', shard: t.shard.name, createdBy: 'kill-spec' }, { tenantId: t.id, producer: 'kill-spec', correlationId: label });
        ids.push(e.id);
      }
    });
  }
  return ids;
}

/** Event ids (of the given ones) that have an audit entry, with how many entries each. */
async function effects(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const t of tenants) {
    const rows = await world.tenantDb.withTenant(t.id, (tx) => sql<{ event_id: string; n: number }>`
      select event_id::text, count(*)::int as n from audit_log where tenant_id = ${t.id}::uuid and payload->>'createdBy' = 'kill-spec' group by event_id`.execute(tx.db).then((r) => r.rows));
    for (const r of rows) counts.set(r.event_id, r.n);
  }
  return counts;
}

beforeAll(async () => {
  const [s1, s2] = await world.shards();
  tenants = [];
  for (let i = 0; i < TENANTS; i++) tenants.push(await world.createTenant(`kill tenant ${i}`, i % 2 ? s2 : s1));
  kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'kill-spec' });
  const producer = await kafka.producer();
  relays = [s1!, s2!].map((s) => new OutboxRelay(world.dbs, s, producer, { batchSize: 100 }));
  relays.forEach((r) => r.start());
}, 60_000);

afterAll(async () => {
  await audit?.stop();
  await Promise.all(relays.map((r) => r.stop()));
  await kafka?.close();
  await deleteConsumerGroups([consumer]);
  await world.close();
}, 60_000);

it(`applies ${EVENTS} events exactly once across ${KILLS} SIGKILLs of the consumer`, async () => {
  audit = startAudit();
  // The new group reads the topic from its beginning (earlier specs' events included); wait until it
  // has caught up with a ping before killing it for the first time.
  const pings: string[] = [];
  await waitFor(
    'the audit consumer to be consuming',
    async () => {
      pings.push(...(await produce(1, `ping ${newId()}`)));
      await sleep(1000);
      const seen = await effects();
      return pings.some((p) => seen.has(p));
    },
    180_000,
    0,
  ).catch((e) => {
    throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
  });
  produced.push(...pings);

  const perRound = EVENTS / KILLS;
  for (let round = 0; round < KILLS; round++) {
    const before = (await effects()).size;
    produced.push(...(await produce(perRound, `kill ${round}`)));
    // Kill it mid-batch: once it has made progress on this round's events.
    await waitFor(`progress in round ${round}`, async () => (await effects()).size > before, 90_000, 20).catch((e) => {
      throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
    });
    await sleep(Math.floor(Math.random() * 150));
    await audit.kill();
    audit = startAudit();
  }

  const final = await waitFor(
    'every produced event to have its effect',
    async () => {
      const seen = await effects();
      return produced.every((id) => seen.has(id)) ? seen : undefined;
    },
    180_000,
    250,
  ).catch((e) => {
    throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
  });

  expect(produced.length).toBeGreaterThanOrEqual(EVENTS);
  const effectIds = [...final.keys()].sort();
  expect(effectIds).toEqual([...produced].sort());
  expect([...final.values()].filter((n) => n !== 1)).toEqual([]);
  const inbox = await Promise.all(
    tenants.map((t) => world.tenantDb.withTenant(t.id, (tx) => sql<{ n: number }>`select count(*)::int as n from inbox where consumer = ${consumer}`.execute(tx.db).then((r) => r.rows))),
  );
  expect(inbox.reduce((s, r) => s + r[0]!.n, 0)).toBe(produced.length);

  const verify = new VerifyAuditChainHandler(world.tenantDb, new AuditLogRepository());
  for (const t of tenants) expect(await verify.execute(t.id as TenantId)).toMatchObject({ ok: true });
}, 900_000);
