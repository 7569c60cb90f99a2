// Dead letters from the ops command line (issue 17, item 8): the real `hotdash-ops` bin against a
// gateway and a provisioning service started as processes. A dead letter (as KafkaEventTransport
// writes one: the original record with its headers plus the hotdash-dlq-* ones) is on
// hotdash.tenants.dlq; `dlq list` finds it by its consumer (text and --json), `dlq show` prints its
// headers, error and envelope, `dlq replay` sends it back to hotdash.tenants (read there: same key
// and value, the original headers and hotdash-replayed-from, no dead-letter headers), a second replay
// is refused (exit 1, dead-letter-already-replayed) until --force, and --all-matching needs --yes and
// lists with --dry-run. A tenant's token is refused on every dead-letter route (401 at the gateway,
// exit 3 from the CLI), and bad ids are usage errors (exit 2) that send nothing. The spec removes its
// operator, its ops actions and its probe's consumer group.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadLetterTopic, DlqHeaders, EventHeaders, REPLAYED_FROM_HEADER, TenantEvents, Topics, type DeadLetterDetail, type DeadLetterList } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { buildEnvelope, createKafkaClient, headersFor, type KafkaClientPort } from '@hotdash/platform-messaging';
import { cliDoc, createAccount, createPlatformOperator, KafkaProbe, opsCli, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, waitFor } from '@hotdash/testing';

// Each command starts a Node process that compiles the CLI's TypeScript: about a second apiece.
jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3381';
const PROVISIONING = 'http://127.0.0.1:3382';
const world = new TestWorld();
const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-dlq-spec-'));
const cli = opsCli(configHome, GATEWAY);
const consumer = `dlq-cli-spec-${newId()}`;
let processes: ServiceProcess[] = [];
let ops: { id: string; email: string };
let tenantToken: string;
let kafka: KafkaClientPort;
let probe: KafkaProbe;
let id: string;
const envelope = { value: '', headers: {} as Record<string, string>, key: '' };

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3381', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3382' }, url: PROVISIONING },
  ]);
  ops = await createPlatformOperator(world);
  const tenant = await createAccount(world, 'admin');
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: tenant.slug, email: tenant.email, password: TEST_PASSWORD }) });
  tenantToken = ((await res.json()) as { accessToken: string }).accessToken;

  // A dead letter as the transport writes one, for a tenant of the world.
  const t = await world.createTenant(`dlq cli ${newId().slice(-6)}`);
  const e = buildEnvelope(TenantEvents.CREATED, { tenantId: t.id, name: `dlq-cli-spec ${newId()}`, plan: 'basic', shard: t.shard.name, createdBy: 'dlq-cli-spec' }, { tenantId: t.id, producer: 'dlq-cli-spec', correlationId: newId() });
  Object.assign(envelope, { value: JSON.stringify(e), headers: headersFor(e), key: t.id });
  kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'dlq-cli-spec' });
  probe = await KafkaProbe.start(Topics.TENANTS, { from: 'end' });
  const producer = await kafka.producer();
  await producer.send([
    {
      topic: deadLetterTopic(Topics.TENANTS),
      key: t.id,
      value: envelope.value,
      headers: {
        ...envelope.headers,
        [DlqHeaders.ERROR]: 'the spec refused it',
        [DlqHeaders.ERROR_CODE]: 'spec-refused',
        [DlqHeaders.CONSUMER]: consumer,
        [DlqHeaders.ATTEMPTS]: '3',
        [DlqHeaders.ORIGINAL_TOPIC]: Topics.TENANTS,
        [DlqHeaders.ORIGINAL_PARTITION]: '0',
        [DlqHeaders.ORIGINAL_OFFSET]: '0',
        [DlqHeaders.FAILED_AT]: new Date().toISOString(),
      },
    },
  ]);
  expect((await cli(['login', ops.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await probe?.close();
  await kafka?.close();
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (ops) {
      await owner.query('delete from ops_actions where actor = $1', [`ops:${ops.id}`]);
      await owner.query('delete from platform_operators where id = $1', [ops.id]);
    }
  } finally {
    await owner.end();
  }
  await world.close();
  rmSync(configHome, { recursive: true, force: true });
}, 60_000);

it('lists the dead letter by its consumer and shows its headers, error and envelope', async () => {
  const listed = await waitFor('the dead letter listed', async () => {
    const r = await cli(['dlq', 'list', '--topic', Topics.TENANTS, '--consumer', consumer, '--json']);
    expect(r.code).toBe(0);
    return (cliDoc(r) as unknown as DeadLetterList).items[0];
  });
  expect(listed).toMatchObject({ eventType: TenantEvents.CREATED, tenantId: envelope.key, consumer, code: 'spec-refused', attempts: 3, replayed: false, originalTopic: Topics.TENANTS });
  id = listed.id;

  const text = await cli(['dlq', 'list', '--consumer', consumer, '--topic', `${Topics.TENANTS}.dlq`]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/ID\s+FAILED AT\s+EVENT\s+TENANT\s+CONSUMER\s+CODE\s+ATTEMPTS\s+REPLAYED/);
  expect(text.stdout).toContain(id);
  expect(text.stdout).toMatch(new RegExp(`spec-refused\\s+3\\s+no`));

  const shown = await cli(['dlq', 'show', id, '--json']);
  expect(shown.code).toBe(0);
  const detail = cliDoc(shown) as unknown as DeadLetterDetail;
  expect(detail.headers).toMatchObject({ ...envelope.headers, [DlqHeaders.ERROR]: 'the spec refused it' });
  expect([detail.error, detail.envelope]).toEqual(['the spec refused it', JSON.parse(envelope.value)]);
  const human = await cli(['dlq', 'show', id]);
  expect(human.stdout).toContain(`error:      spec-refused: the spec refused it`);
  expect(human.stdout).toContain(`${EventHeaders.ID}: ${envelope.headers[EventHeaders.ID]}`);
});

it('replays it to its original topic once; a second replay is refused until --force', async () => {
  const dry = await cli(['dlq', 'replay', '--all-matching', '--consumer', consumer, '--dry-run', '--json']);
  expect(dry.code).toBe(0);
  expect((cliDoc(dry).results as { id: string; outcome: string }[]).map((r) => [r.id, r.outcome])).toEqual([[id, 'would-replay']]);
  const unconfirmed = await cli(['dlq', 'replay', '--all-matching', '--consumer', consumer]);
  expect([unconfirmed.code, unconfirmed.stderr]).toEqual([2, expect.stringContaining('--yes')]);

  const first = await cli(['dlq', 'replay', id, '--json']);
  expect(first.code).toBe(0);
  expect((cliDoc(first).results as { outcome: string; to: string }[]).map((r) => [r.outcome, r.to])).toEqual([['replayed', Topics.TENANTS]]);
  const sent = await waitFor('the replayed record on hotdash.tenants', async () => probe.records.find((r) => r.headers[REPLAYED_FROM_HEADER] === id), 30_000);
  expect([sent.key, sent.value.toString('utf8'), sent.headers]).toEqual([envelope.key, envelope.value, { ...envelope.headers, [REPLAYED_FROM_HEADER]: id }]);

  const again = await cli(['dlq', 'replay', id, '--json']);
  expect(again.code).toBe(1);
  expect((cliDoc(again).error as { code: string; status: number })).toMatchObject({ code: 'dead-letter-already-replayed', status: 409 });
  const listed = (cliDoc(await cli(['dlq', 'list', '--topic', Topics.TENANTS, '--consumer', consumer, '--json'])) as unknown as DeadLetterList).items[0]!;
  expect([listed.id, listed.replayed, listed.replays]).toEqual([id, true, 1]);
  const matching = await cli(['dlq', 'replay', '--all-matching', '--consumer', consumer, '--topic', Topics.TENANTS, '--yes', '--json']);
  expect(matching.code).toBe(0);
  expect((cliDoc(matching).results as { outcome: string }[]).map((r) => r.outcome)).toEqual(['already-replayed']);

  const forced = await cli(['dlq', 'replay', id, '--force']);
  expect(forced.code).toBe(0);
  expect(forced.stdout).toContain('1 replayed');
  await waitFor('the forced replay on hotdash.tenants', async () => probe.records.filter((r) => r.headers[REPLAYED_FROM_HEADER] === id).length === 2, 30_000);
});

it('refuses a tenant’s token on every dead-letter route, and bad ids before sending anything', async () => {
  const dlqPath = `/ops/dead-letters/${id ?? `${Topics.TENANTS}.dlq/0/0`}`;
  const routes: [string, string, unknown][] = [
    ['GET', '/ops/dead-letters', undefined],
    ['GET', dlqPath, undefined],
    ['POST', `${dlqPath}/replay`, { force: true }],
    ['POST', '/ops/dead-letters/replays', { filter: {}, dryRun: false, force: true }],
  ];
  for (const [method, path, body] of routes) {
    const res = await fetch(`${GATEWAY}${path}`, { method, headers: { authorization: `Bearer ${tenantToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    expect([path, [401, 403].includes(res.status)]).toEqual([path, true]);
    const anonymous = await fetch(`${GATEWAY}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    expect([path, anonymous.status]).toEqual([path, 401]);
  }
  // Documented in /openapi.json, the path parameters as what they are (not UUIDs).
  const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: { name: string; schema: { type?: string; format?: string } }[] }>> };
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ops/dead-letters')).sort()).toEqual(['/ops/dead-letters', '/ops/dead-letters/replays', '/ops/dead-letters/{topic}/{partition}/{offset}', '/ops/dead-letters/{topic}/{partition}/{offset}/replay']);
  expect(doc.paths['/ops/dead-letters/{topic}/{partition}/{offset}']!.get!.parameters!.filter((p) => ['topic', 'partition', 'offset'].includes(p.name)).map((p) => [p.name, p.schema.type, p.schema.format])).toEqual([
    ['topic', 'string', undefined],
    ['partition', 'string', undefined],
    ['offset', 'string', undefined],
  ]);
  const asTenant = await cli(['dlq', 'list', '--json'], { HOTDASH_OPS_TOKEN: tenantToken });
  expect(asTenant.code).toBe(3);
  const several = [`${Topics.TENANTS}.dlq/0/1`, `${Topics.TENANTS}.dlq/1/1`];
  for (const bad of [['dlq', 'show', 'hotdash.tenants/0/1'], ['dlq', 'replay', 'nope'], ['dlq', 'replay'], ['dlq', 'list', '--tenant', 'x'], ['dlq', 'list', '--limit', '501'], ['dlq', 'replay', ...several], ['dlq', 'replay', several[0]!, '--all-matching'], ['dlq', 'replay', several[0]!, '--consumer', 'drafts']]) {
    const r = await cli([...bad, '--json']);
    expect([bad.join(' '), r.code, (cliDoc(r).error as { code: string }).code]).toEqual([bad.join(' '), 2, 'usage']);
  }
});
