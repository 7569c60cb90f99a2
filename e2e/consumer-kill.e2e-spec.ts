// Consumer kill: the audit service is SIGKILLed mid-batch 20 times while 2,000 events flow through
// outbox → relay → Kafka → audit, at moments drawn from a seed (CRASH_SEED replays a run), and each
// kill is checked to have landed mid-round (some of the round's events applied, not all); a kill
// that came after the round was done does not count and the round is played again. Every event's
// effect (its audit entry) is applied exactly once: the effects are exactly the produced ids, none
// missing, none twice, and every chain verifies.
import { sql } from 'kysely';
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import { TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { createKafkaClient, KafkaClientPort, OutboxRelay, publishInTx } from '@hotdash/platform-messaging';
import { crashSeed, deleteConsumerGroups, seededRandom, ServiceProcess, sleep, startProcess, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';

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
    // The new group starts at the topics' end (the shared topics hold every earlier spec's and
    // bench's events, which took minutes to read through), written down when the service first
    // starts: the restarted services resume from the group's committed offsets.
    HOTDASH_CONSUMER_START: 'latest',
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

/**
 * Event ids this spec's consumer took (its inbox rows). What has an audit entry is not enough:
 * another audit consumer running on the machine (a stack, another spec) writes the same entries.
 */
async function consumed(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const t of tenants) {
    const rows = await world.tenantDb.withTenant(t.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute());
    for (const r of rows) ids.add(r.event_id);
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
  // Wait until the new group consumes (a ping has its effect) before killing it for the first time.
  // Pings sent before the group's start was written down are not read; those after it are.
  const pings: string[] = [];
  await waitFor(
    'the audit consumer to be consuming',
    async () => {
      pings.push(...(await produce(1, `ping ${newId()}`)));
      await sleep(1000);
      const seen = await consumed();
      return pings.some((p) => seen.has(p));
    },
    180_000,
    0,
  ).catch((e) => {
    throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
  });

  const seed = crashSeed();
  const random = seededRandom(seed);
  console.log(`consumer kill spec: seed ${seed} (CRASH_SEED=${seed} replays it)`);
  const perRound = EVENTS / KILLS;
  let landed = 0;
  let rounds = 0;
  for (let round = 0; landed < KILLS; round = ++rounds) {
    if (round >= KILLS * 3) throw new Error(`only ${landed} of ${KILLS} kills landed mid-round in ${round} rounds`);
    const ids = await produce(perRound, `kill ${round}`);
    produced.push(...ids);
    const applied = async () => {
      const seen = await consumed();
      return ids.filter((id) => seen.has(id)).length;
    };
    // Kill it mid-batch: once it has made progress on this round's events, a moment later drawn from the seed.
    await waitFor(`progress in round ${round}`, async () => (await applied()) > 0, 90_000, 20).catch((e) => {
      throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
    });
    // Short: a round of 100 events is applied in well under a second on a quiet machine, so a longer
    // draw lets most kills land after the round (17 of 60 landed with up to 150 ms).
    await sleep(Math.floor(random() * 40));
    await audit.kill();
    // Dead now: the round was cut short when some of its events are still without effect.
    if ((await applied()) < perRound) landed++;
    audit = startAudit();
  }
  // Each of the kills the spec claims landed mid-round.
  expect(landed).toBe(KILLS);
  console.log(`consumer kill: ${landed} kills mid-round in ${rounds} rounds`);

  const taken = await waitFor(
    'every produced event taken by the consumer',
    async () => {
      const seen = await consumed();
      return produced.every((id) => seen.has(id)) ? seen : undefined;
    },
    180_000,
    250,
  ).catch((e) => {
    throw new Error(`${e.message}\n${audit!.output().slice(-3000)}`);
  });
  const final = await effects();

  expect(produced.length).toBeGreaterThanOrEqual(EVENTS);
  const pingIds = new Set(pings);
  // Every produced event has exactly one audit entry, and none other of ours has one.
  const effectIds = [...final.keys()].filter((id) => !pingIds.has(id)).sort();
  expect(effectIds).toEqual([...produced].sort());
  expect([...final.values()].filter((n) => n !== 1)).toEqual([]);
  // The consumer took each produced event once (one inbox row each), and nothing else but pings.
  expect([...taken].filter((id) => !pingIds.has(id)).sort()).toEqual([...produced].sort());

  const verify = new VerifyAuditChainHandler(world.tenantDb, new AuditLogRepository());
  for (const t of tenants) expect(await verify.execute(t.id as TenantId)).toMatchObject({ ok: true });
}, 900_000);
