// The relay service (apps/relay, its own process): an event written to the control database's
// outbox and one written to a shard's outbox each reach Kafka once; a message in a shard's mail
// outbox is delivered as an .eml file into the relay's HOTDASH_MAIL_DIR; and a shard registered
// while the relay runs (a scratch database migrated like a shard, registered as 'draining' so no
// sign-up is ever placed on it) is relayed without a restart. The relay's periodic re-read of the
// shard list is set to 10 minutes here, so only the control plane's hotdash_shards notification
// can have woken it.
import { sql } from 'kysely';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topics } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, ShardInfo } from '@hotdash/platform-db';
import { publishInTx } from '@hotdash/platform-messaging';
import { createAccount, KafkaProbe, ServiceProcess, startServices, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const RELAY = 'http://127.0.0.1:3265';
const MAIL_DIR = mkdtempSync(join(tmpdir(), 'hotdash-relay-mail-'));
const world = new TestWorld();
const scratchDb = `hotdash_scratch_${newId().replace(/-/g, '').slice(-12)}`;
const scratchShard: ShardInfo = world.scratchShardInfo(scratchDb);
/** Outbox rows this spec wrote (the scratch shard's go with its database), removed in afterAll. */
const written: { control: string[]; shard: string[] } = { control: [], shard: [] };
let account: TestAccount;
let probe: KafkaProbe;
let processes: ServiceProcess[] = [];

async function as<T>(role: 'owner' | 'relay', database: string, fn: (c: Awaited<ReturnType<TestWorld['connect']>>) => Promise<T>): Promise<T> {
  const c = await world.connect({ host: world.config.db.controlHost, port: world.config.db.controlPort, database }, role);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
const controlDb = () => world.dbs.controlLocation.database;
const unregisterScratchShard = () => as('owner', controlDb(), (c) => c.query('delete from shards where id = $1', [scratchShard.id]));

beforeAll(async () => {
  // The scratch shard's database, migrated as `npm run db:migrate` migrates a shard (not registered yet).
  await world.createScratchShardDatabase(scratchDb);

  account = await createAccount(world, 'admin');
  probe = await KafkaProbe.start(Topics.TENANTS);
  processes = await startServices([
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3265', HOTDASH_MAIL_DIR: MAIL_DIR, HOTDASH_RELAY_SHARD_REFRESH_MS: '600000' }, url: RELAY },
  ]);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await probe?.close();
  await unregisterScratchShard().catch(() => undefined);
  await as('owner', controlDb(), (c) => c.query('delete from outbox where id = any($1::uuid[])', [written.control]));
  if (account) {
    await world.tenantDb.withTenant(account.tenantId, async (tx) => {
      await sql`delete from outbox where id = any(${written.shard}::uuid[])`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
      await sql`delete from mail_outbox where tenant_id = ${account.tenantId}::uuid`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
    });
  }
  await world.dropScratchDatabase(scratchDb);
  await world.close();
  rmSync(MAIL_DIR, { recursive: true, force: true });
}, 60_000);

const payload = (label: string) => ({ tenantId: account.tenantId, name: `relay spec ${label}`, plan: 'basic' as const, shard: 'n/a', createdBy: 'relay-spec' });
const meta = () => ({ tenantId: account.tenantId, producer: 'relay-spec', correlationId: newId() });
const onKafka = (id: string) => probe.envelopes().filter((e) => e.id === id).length;

/** As the relay role, whose policy sees every tenant's outbox rows. */
async function published(location: { database: string }, id: string): Promise<boolean> {
  return as('relay', location.database, async (c) => (await c.query<{ published: boolean }>('select published_at is not null as published from outbox where id = $1', [id])).rows[0]?.published === true);
}

it('publishes an event of the control outbox and one of a shard outbox, each once', async () => {
  const control = await world.dbs.withControl((tx) => publishInTx(tx, 'tenant.created', payload('control'), meta()));
  written.control.push(control.id);
  const shard = await world.router.shardOf(account.tenantId);
  const onShard = await world.tenantDb.withTenant(account.tenantId, (tx) => publishInTx(tx, 'tenant.created', payload('shard'), meta()));
  written.shard.push(onShard.id);

  await waitFor('both events on Kafka', async () => onKafka(control.id) > 0 && onKafka(onShard.id) > 0, 60_000);
  // Marked published in the transaction that sent them: they are not sent again.
  await waitFor('both rows marked published', async () => (await published(world.dbs.controlLocation, control.id)) && (await published(shard, onShard.id)), 10_000);
  expect([onKafka(control.id), onKafka(onShard.id)]).toEqual([1, 1]);
});

it("delivers a shard's mail as an .eml file into HOTDASH_MAIL_DIR", async () => {
  const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
  const id = newId();
  const to = `grace-${id.slice(-6)}@example.test`;
  const toEnc = await cipher.encrypt(account.tenantId, 'mail_outbox.to', to);
  await world.tenantDb.withTenant(account.tenantId, (tx) => sql`insert into mail_outbox (id, tenant_id, to_enc, subject, body, kind)
    values (${id}::uuid, ${account.tenantId}::uuid, ${toEnc}, 'Relay spec', ${`Hello from the relay spec ${id}`}, 'invitation')`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0)));
  const file = join(MAIL_DIR, account.tenantId, `${id}.eml`);
  await waitFor('the .eml file', async () => existsSync(file), 30_000);
  const eml = readFileSync(file, 'utf8');
  expect(eml).toContain(`To: ${to}`);
  expect(eml).toContain('Subject: Relay spec');
  expect(eml).toContain(`Hello from the relay spec ${id}`);
  const [row] = await world.tenantDb.withTenant(account.tenantId, (tx) => sql<{ sent: boolean }>`select sent_at is not null as sent from mail_outbox where id = ${id}::uuid`.execute(tx.db).then((r) => r.rows));
  expect(row?.sent).toBe(true);
});

it('relays a shard registered while it runs, without a restart', async () => {
  // Written before the shard is registered: nothing relays it yet.
  const event = await world.tenantDb.withTenantOnShard(scratchShard, account.tenantId, (tx) => publishInTx(tx, 'tenant.created', payload('new shard'), meta()));
  await as('owner', controlDb(), (c) =>
    c.query(`insert into shards (id, name, host, port, database, kind, status) values ($1, $2, $3, $4, $5, $6, $7)`, [
      scratchShard.id,
      scratchShard.name,
      scratchShard.host,
      scratchShard.port,
      scratchShard.database,
      scratchShard.kind,
      scratchShard.status,
    ]),
  );
  try {
    await waitFor('the new shard’s event on Kafka', async () => onKafka(event.id) > 0, 30_000);
    await waitFor('the row marked published', () => published(scratchShard, event.id), 10_000);
    expect(onKafka(event.id)).toBe(1);
  } finally {
    // Registered as briefly as possible: other specs list the shards too.
    await unregisterScratchShard();
  }
});
