// The AI drafting service on the real path: ticket.received written to a tenant shard's outbox →
// relay → Kafka → the events handler (Kafka transport, inbox) → BullMQ → the drafting worker →
// outbox → Kafka, observed with a probe on the drafts topic. Real PostgreSQL, Redis, Kafka and
// Weaviate; the only stand-in is the OpenAI API, a local server speaking chat-completions that
// records what it was sent. Covers: an offline draft citing the tenant's passages with nothing of
// the ticket readable on Kafka; a regeneration following the operator's reason (offline), and one
// whose prompt carries the earlier draft, the reason and the operator's edit to the tenant's own
// model, with nothing of another tenant and none of it in clear on Kafka or Redis; a model failing every time (one draft.failed
// after the retries); a 401 and a 400 failing at once; a tenant endpoint on loopback refused at
// once by the egress guard (the model server's own origin is allow-listed for these specs);
// tenant B's prompts carrying nothing of tenant A; a per-tenant cap of 1 holding while another
// tenant is served; and a tenant that is gone (or whose data key was destroyed) skipped. The
// tenants' drafting profiles reach the worker as provisioning sends them: tenant.settings-changed
// through the shard's outbox, Kafka and the profile handler (inbox) into drafting_profiles; a newer
// version shapes the next prompt, an older one arriving late changes nothing, an event of tenant B
// naming tenant A is dead-lettered without touching A, and a ticket whose tenant has no profile
// yet fails (drafting-profile-missing) after its tries instead of drafting with made-up settings.
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import {
  DraftEvents,
  DraftFailedV1,
  DraftGeneratedV1,
  DraftGeneratedV2,
  DraftingModelSettingsV1,
  Envelope,
  EventHeaders,
  parseTenantId,
  SupportFields,
  TenantEvents,
  TenantId,
  Topics,
  deadLetterTopic,
  DlqHeaders,
} from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { BullmqJobs, QueueName, redisConnection, type RunningJob } from '@hotdash/platform-jobs';
import { createKafkaClient, EventErrorsFilter, KafkaClientPort, KafkaEventTransport, publishInTx, RelaySupervisor } from '@hotdash/platform-messaging';
import { LocalEmbedder, MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { KnowledgeChunk, WeaviateVectorStore } from '@hotdash/platform-vector';
import { announceTicket, deleteConsumerGroups, DraftingProfileFixture, KafkaProbe, publishSettingsChanged, settingsChanged, sleep, TestWorld, waitFor } from '@hotdash/testing';
import { DraftingEventsHandler } from './drafting.events-handler';
import { DraftingProfilesEventsHandler } from './drafting-profiles.events-handler';
import { DraftingJob, DraftingQueue, draftOutcomeEventId } from './drafting.job';
import { DraftingWorker } from './drafting.worker';

jest.setTimeout(180_000);

const world = new TestWorld();
const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
const cipher = new FieldCipher(keyring);
const embedder = new LocalEmbedder(256);
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
const vectors = WeaviateVectorStore.fromConfig(world.config, { collection: `DraftingWorker${suffix}` });
const prefix = `hotdash-spec-${suffix}`;
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port, maxRetriesPerRequest: 2 });
const jobs = new BullmqJobs(world.config, { prefix });
const queue = new DraftingQueue(jobs.queue<DraftingJob>(QueueName.AI_DRAFTING), { backoffMs: 50 });
/** The queue as BullMQ keeps it, to look at what the stack's adapter did (return values, stalled runs). */
const inspect = new Queue<DraftingJob>(QueueName.AI_DRAFTING, { connection: redisConnection(world.config), prefix });
let worker: DraftingWorker;

@Module({ controllers: [DraftingEventsHandler, DraftingProfilesEventsHandler], providers: [{ provide: DraftingQueue, useValue: queue }, { provide: TenantStatusCache, useValue: new TenantStatusCache(world.dbs, 0) }] })
class HandlerModule {}

/** What the model server was sent, per route (the tenant's base URL: `/<route>/v1`). */
const requests: { route: string; body: string; authorization: string }[] = [];
const inFlight = new Map<string, number>();
const maxInFlight = new Map<string, number>();
let server: Server;
let base: string;
let kafka: KafkaClientPort;
let relay: RelaySupervisor;
let app: INestMicroservice;
let probe: KafkaProbe;

const TOPICS = ['refund', 'shipping', 'warranty', 'invoice', 'password', 'returns'];
const chunkIds = new Map<TenantId, Set<string>>();

function answer(route: string, body: string, res: ServerResponse): void {
  const json = (status: number, value: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  // The failing routes echo what they were sent, as some servers do: none of it may reach draft.failed.
  if (route === 'down') return json(500, { error: { message: `upstream failed for ${body}` } });
  if (route === 'badkey') return json(401, { error: { message: `invalid key for ${body}` } });
  if (route === 'refuse') return json(400, { error: { message: `bad request: ${body}` } });
  json(200, { model: `gpt-test-${route}`, choices: [{ index: 0, message: { role: 'assistant', content: 'Thanks for asking: see [1].' } }], usage: { prompt_tokens: 100, completion_tokens: 5 } });
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const route = req.url!.split('/')[1]!;
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    requests.push({ route, body, authorization: req.headers.authorization ?? '' });
    const n = (inFlight.get(route) ?? 0) + 1;
    inFlight.set(route, n);
    maxInFlight.set(route, Math.max(n, maxInFlight.get(route) ?? 0));
    setTimeout(
      () => {
        inFlight.set(route, inFlight.get(route)! - 1);
        answer(route, body, res);
      },
      route === 'slow' ? 1_500 : 0,
    );
  });
}

const CONSUMER = `ai-drafting-spec-${suffix}`;
/** Each tenant's model settings, as its settings events carry them. */
const models = new Map<TenantId, DraftingModelSettingsV1>();

/** Whether the drafting consumer has taken the event (applied, or found older than the profile): its inbox row. */
const consumed = async (t: TenantId, eventId: string): Promise<boolean> =>
  (await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', CONSUMER).where('event_id', '=', eventId).executeTakeFirst())) !== undefined;
/** The tenant's profile as ai-drafting keeps it. */
const profileRow = (t: TenantId) => world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('drafting_profiles').selectAll().where('tenant_id', '=', t).executeTakeFirst());

/** Publishes the tenant's settings as provisioning does (tenant.settings-changed through its shard's outbox) and waits until the drafting consumer took them. */
async function settings(t: TenantId, profile: DraftingProfileFixture): Promise<void> {
  const e = await publishSettingsChanged(world, t, { model: models.get(t), ...profile });
  await waitFor(`settings v${e.payload.version} of tenant ${t} consumed`, () => consumed(t, e.id), 60_000);
}

/**
 * A tenant with a data key, passages carrying its marker, and (unless `profile` is false) its
 * drafting profile: its name, voice and policy, and its model: the platform's (offline) or its own
 * at `/<route>/v1`.
 */
async function tenant(name: string, marker: string, route?: string, baseUrl?: string, profile = true): Promise<TenantId> {
  const t = (await world.createTenant(name)).id;
  await world.dbs.withControl((tx) => keyring.createKey(tx, t));
  const keyEnc = route ? await cipher.encrypt(t, MODEL_API_KEY_FIELD, `sk-${marker.toLowerCase()}`) : null;
  models.set(t, settingsChanged(t, route ? { model: { mode: 'own', provider: 'openai', model: 'gpt-test', baseUrl: baseUrl ?? `${base}/${route}/v1`, apiKeyEnc: keyEnc } } : {}).model);
  if (profile) await settings(t, { companyName: name, brandVoice: `Speak as the ${marker} crew`, policies: [`Never mention ${marker} internal codes.`] });
  const chunks: KnowledgeChunk[] = TOPICS.map((topic, i) => {
    const text = `${marker} ${topic} policy: customers asking about ${topic} get an answer within ${i + 1} days from the ${marker} team.`;
    return { id: randomUUID(), vector: embedder.vector(text), documentId: `${marker}-doc`, chunkIndex: i, text, title: `${marker} ${topic}`, sourceVersion: 1 };
  });
  await vectors.createTenant(t);
  await vectors.upsertChunks(t, chunks);
  chunkIds.set(t, new Set(chunks.map((c) => c.id)));
  return t;
}

interface TicketText {
  name: string;
  subject: string | null;
  body: string;
}

/** Announces a ticket as the drafts service does: ticket.received, encrypted, through the tenant shard's outbox. */
async function receive(t: TenantId, text: TicketText): Promise<string> {
  return announceTicket(world, cipher, t, { customerName: text.name, customerEmail: 'dana.secret@example.com', subject: text.subject, body: text.body });
}

type Outcome = Envelope<'draft.generated', DraftGeneratedV1> | Envelope<'draft.failed', DraftFailedV1>;
const outcomes = (ticketId: string): Outcome[] =>
  probe.envelopes().filter((e) => (e.type === DraftEvents.GENERATED || e.type === DraftEvents.FAILED) && (e.payload as { ticketId: string }).ticketId === ticketId) as Outcome[];
const outcome = (ticketId: string) => waitFor(`a draft outcome for ticket ${ticketId}`, async () => outcomes(ticketId)[0], 60_000);

let a: TenantId;
let b: TenantId;

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Tenants' own endpoints go through the egress guard: only this plain-http origin is allow-listed.
  worker = new DraftingWorker(
    { config: world.config, db: world.tenantDb, cipher, embedder, vectors, jobs },
    { perTenant: 1, concurrency: 4, ownModelHttp: { maxRetries: 0, timeoutMs: 20_000 }, ownModelEgress: { allow: base } },
  );
  await vectors.ensureCollection();
  const pinger = (await world.createTenant('Pingcorp')).id;
  await world.dbs.withControl((tx) => keyring.createKey(tx, pinger));

  kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'ai-drafting-spec' });
  probe = await KafkaProbe.start(Topics.DRAFTS);
  relay = new RelaySupervisor(world.dbs, world.router, await kafka.producer(), { control: false, shards: true });
  await relay.start();
  app = await NestFactory.createMicroservice(HandlerModule, {
    strategy: new KafkaEventTransport({ consumer: CONSUMER, kafka, tenantDb: world.tenantDb, fromBeginning: false, unknownTenant: 'skip', backoffMs: 50 }),
    logger: false,
  });
  app.useGlobalFilters(new EventErrorsFilter());
  await app.listen();
  worker.start();
  // A new group starting at "latest" sees only what is produced after it joined: ping (a ticket and
  // a settings event) until it answers on both topics.
  let pings = 0;
  await waitFor(
    'the drafting consumer to be consuming',
    async () => {
      const ping = await receive(pinger, { name: 'Ping', subject: null, body: 'ping' });
      const profile = await publishSettingsChanged(world, pinger, { version: ++pings, companyName: 'Pingcorp' });
      await sleep(1_000);
      return (await inspect.getJob(DraftingQueue.jobId(ping, 1))) !== undefined && (await consumed(pinger, profile.id));
    },
    90_000,
    0,
  );
  a = await tenant('Alphacorp', 'ALPHA');
  b = await tenant('Bravoworks', 'BRAVO', 'bravo');
}, 150_000);

afterAll(async () => {
  await app?.close();
  await relay?.stop();
  await probe?.close();
  await kafka?.close();
  await deleteConsumerGroups([CONSUMER]);
  await worker?.close();
  await inspect.obliterate({ force: true });
  await inspect.close();
  await queue.close();
  await jobs.close();
  redis.disconnect();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await fetch(`${world.config.weaviate.url}/v1/schema/DraftingWorker${suffix}`, { method: 'DELETE' });
  await vectors.close();
  await world.close();
}, 60_000);

it('drafts a ticket with the platform’s offline model from the tenant’s passages; Kafka and Redis carry none of the ticket in clear', async () => {
  const text = { name: 'Dana Whitfield', subject: 'Refund question', body: 'What is your refund policy? Order 4711-SECRET arrived broken.' };
  const ticketId = await receive(a, text);
  const generated = await outcome(ticketId);
  expect(generated.type).toBe(DraftEvents.GENERATED);
  const draft = generated.payload as DraftGeneratedV1;
  expect(draft).toMatchObject({ tenantId: a, ticketId, attempt: 1, model: 'offline-extractive-1' });
  expect(generated.producer).toBe('ai-drafting');
  const body = await cipher.decrypt(a, SupportFields.DRAFT_BODY, draft.bodyEnc);
  expect(body).toContain('Hello Dana Whitfield');
  expect(body).toContain('ALPHA refund policy');
  expect(body).toContain('Alphacorp Support');
  expect(draft.citations.length).toBeGreaterThan(0);
  for (const c of draft.citations) {
    expect(chunkIds.get(a)!.has(c.chunkId)).toBe(true);
    expect(c).toMatchObject({ documentId: 'ALPHA-doc', title: expect.stringMatching(/^ALPHA /) });
  }
  // Version 2: each cited passage's text, for the operator, under the tenant's key (the Kafka check below finds none of it in clear).
  expect(generated.version).toBe(2);
  const passages = await Promise.all((draft as DraftGeneratedV2).citations.map((c) => cipher.decrypt(a, SupportFields.CITED_PASSAGE, c.textEnc!)));
  expect(passages.some((p) => p.includes('ALPHA refund policy'))).toBe(true);
  // The offline drafter is no model: no tokens (and the local embedder bills none for the retrieval query).
  expect(draft.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
  // One outcome per draft, under the id derived from the draft id.
  expect(generated.id).toBe(draftOutcomeEventId(draft.draftId));

  const plaintext = [text.name, text.subject, '4711-SECRET', 'dana.secret@example.com', 'ALPHA refund policy'];
  const records = probe.records.filter((r) => r.value.toString('utf8').includes(ticketId));
  expect(records.length).toBeGreaterThan(0);
  for (const r of records) {
    const bytes = r.value.toString('utf8') + JSON.stringify(r.headers);
    for (const p of plaintext) expect(bytes).not.toContain(p);
  }
  const job = await inspect.getJob(DraftingQueue.jobId(ticketId, 1));
  const stored = JSON.stringify(job?.data) + String(job?.returnvalue);
  expect(stored).toContain(ticketId);
  for (const p of plaintext) expect(stored).not.toContain(p);
});

/** Asks for a regeneration as the drafts service does: draft.requested with the earlier drafts' reasons and edits, encrypted, through the tenant shard's outbox. */
async function regenerate(t: TenantId, text: TicketText, earlier: { draft: string; reason: string; edited?: string }): Promise<{ ticketId: string; draftId: string }> {
  const ticketId = newId();
  const draftId = newId();
  await world.tenantDb.withTenant(t, async (tx) =>
    publishInTx(
      tx,
      DraftEvents.REQUESTED,
      {
        tenantId: t,
        ticketId,
        draftId,
        attempt: 2,
        by: 'user:spec',
        customerNameEnc: await cipher.encrypt(t, SupportFields.CUSTOMER_NAME, text.name),
        subjectEnc: text.subject === null ? null : await cipher.encrypt(t, SupportFields.SUBJECT, text.subject),
        bodyEnc: await cipher.encrypt(t, SupportFields.BODY, text.body),
        earlierDrafts: [
          {
            attempt: 1,
            bodyEnc: await cipher.encrypt(t, SupportFields.DRAFT_BODY, earlier.draft),
            rejectReasonEnc: await cipher.encrypt(t, SupportFields.REJECT_REASON, earlier.reason),
            editedBodyEnc: earlier.edited === undefined ? null : await cipher.encrypt(t, SupportFields.EDITED_BODY, earlier.edited),
          },
        ],
      },
      { tenantId: t, producer: 'drafts', correlationId: newId() },
    ),
  );
  return { ticketId, draftId };
}

it('writes the regeneration an operator asks for, with the drafts service’s draft id and attempt, following the reason', async () => {
  const rejected = 'Hello Dana,\n\nThank you for reaching out. ALPHA shipping policy: customers asking about shipping get an answer within 2 days from the ALPHA team.\n\nKind regards,\nAlphacorp Support';
  const { ticketId, draftId } = await regenerate(a, { name: 'Dana', subject: null, body: 'How long does shipping take?' }, { draft: rejected, reason: 'Wrong topic: she asks about the warranty' });
  const e = await outcome(ticketId);
  expect(e.payload).toMatchObject({ draftId, attempt: 2 });
  expect(e.type).toBe(DraftEvents.GENERATED);
  const body = await cipher.decrypt(a, SupportFields.DRAFT_BODY, (e.payload as DraftGeneratedV1).bodyEnc);
  expect(body).toContain('ALPHA warranty policy');
  expect(body).not.toContain('ALPHA shipping policy');
  expect(body).toMatch(/^Hello Dana,\n\n/);
  expect(body).not.toMatch(/\[\d+\]/);
  expect((e.payload as DraftGeneratedV1).citations.map((c) => c.title)).toEqual(['ALPHA warranty']);
});

it('publishes exactly one draft.failed when the tenant’s model fails on every try, after the retries, and nothing generated', async () => {
  const t = await tenant('Downcorp', 'DOWN', 'down');
  const ticketId = await receive(t, { name: 'Erin Secretname', subject: null, body: 'Where is my refund for order 9911-SECRET?' });
  const failed = await outcome(ticketId);
  expect(failed.type).toBe(DraftEvents.FAILED);
  expect(failed.payload).toMatchObject({ tenantId: t, ticketId, attempt: 1, code: 'model-unavailable' });
  await waitFor('the job to end failed', async () => (await inspect.getJob(DraftingQueue.jobId(ticketId, 1)))?.isFailed());
  await sleep(500);
  expect(outcomes(ticketId).map((e) => e.type)).toEqual([DraftEvents.FAILED]);
  expect(requests.filter((r) => r.route === 'down')).toHaveLength(3);
  const reason = JSON.stringify(failed);
  for (const p of ['Erin Secretname', '9911-SECRET', 'DOWN refund policy']) expect(reason).not.toContain(p);
});

it('writes no draft for a suspended tenant: its draft fails at once with tenant-suspended, no job queued', async () => {
  const t = await tenant('Pausedcorp', 'PAUSED');
  await world.dbs.control().tenant.update({ where: { id: t }, data: { status: 'suspended' } });
  const ticketId = await receive(t, { name: 'Pat', subject: null, body: 'Is my refund coming?' });
  const failed = await outcome(ticketId);
  expect(failed).toMatchObject({ type: DraftEvents.FAILED, payload: { ticketId, attempt: 1, code: 'tenant-suspended' } });
  expect(await inspect.getJob(DraftingQueue.jobId(ticketId, 1))).toBeUndefined();
});

it('fails at once, without retries, when the model refuses the key (401) or the request (400)', async () => {
  for (const [route, code] of [
    ['badkey', 'model-auth-failed'],
    ['refuse', 'model-refused'],
  ] as const) {
    const t = await tenant(`Refused ${route}`, route.toUpperCase(), route);
    const ticketId = await receive(t, { name: 'Fay Secretname', subject: 'Warranty', body: 'Is my 5522-SECRET device under warranty?' });
    const failed = await outcome(ticketId);
    expect(failed.payload).toMatchObject({ ticketId, code });
    await sleep(500);
    expect(outcomes(ticketId)).toHaveLength(1);
    expect(requests.filter((r) => r.route === route)).toHaveLength(1);
    const job = await inspect.getJob(DraftingQueue.jobId(ticketId, 1));
    expect(job?.attemptsMade).toBe(1);
    const leaked = JSON.stringify(failed) + String(job?.failedReason);
    for (const p of ['Fay Secretname', '5522-SECRET', 'Warranty']) expect(leaked).not.toContain(p);
  }
});

it('fails at once, without retries, when a tenant’s endpoint is on loopback (the egress guard refuses it before connecting)', async () => {
  const t = await tenant('Loopcorp', 'LOOP', 'loop', 'https://127.0.0.1:8443/v1');
  const ticketId = await receive(t, { name: 'Lou Secretname', subject: null, body: 'Is my 7733-SECRET order late?' });
  const failed = await outcome(ticketId);
  expect(failed).toMatchObject({ type: DraftEvents.FAILED, payload: { ticketId, code: 'model-endpoint-refused' } });
  expect((failed.payload as DraftFailedV1).reason).toMatch(/HOTDASH_EGRESS_ALLOW/);
  // Refused for good: the job ends failed at once, so no later try can publish a second outcome.
  await waitFor('the job to end failed', async () => (await inspect.getJob(DraftingQueue.jobId(ticketId, 1)))?.isFailed());
  expect(outcomes(ticketId)).toHaveLength(1);
  const job = await inspect.getJob(DraftingQueue.jobId(ticketId, 1));
  expect(job?.attemptsMade).toBe(1);
  expect(JSON.stringify(failed) + String(job?.failedReason)).not.toMatch(/Lou Secretname|7733-SECRET|127\.0\.0\.1/);
});

it('sends tenant B’s model only B’s company, voice, policies and passages, over vocabulary shared with tenant A', async () => {
  const tickets: string[] = [];
  for (const topic of TOPICS) tickets.push(await receive(b, { name: 'Gus', subject: `${topic} question`, body: `What is your ${topic} policy? Is it like ALPHA ${topic}?` }));
  const drafts = await Promise.all(tickets.map(outcome));
  for (const d of drafts) {
    expect(d.type).toBe(DraftEvents.GENERATED);
    const p = d.payload as DraftGeneratedV1;
    expect(p).toMatchObject({ model: 'gpt-test-bravo', usage: { promptTokens: 100, completionTokens: 5 } });
    expect(p.citations).toHaveLength(1);
    expect(chunkIds.get(b)!.has(p.citations[0]!.chunkId)).toBe(true);
  }
  const sent = requests.filter((r) => r.route === 'bravo');
  expect(sent.length).toBe(TOPICS.length);
  for (const r of sent) {
    expect(r.authorization).toBe('Bearer sk-bravo');
    const { messages } = JSON.parse(r.body) as { messages: { role: string; content: string }[] };
    expect(messages[0]!.content).toContain('Bravoworks');
    expect(messages[0]!.content).toContain('Speak as the BRAVO crew');
    // Nothing of A: its marker appears only where B's own ticket wrote it.
    expect(r.body).not.toMatch(/Alphacorp|ALPHA crew|ALPHA internal|ALPHA [a-z]+ policy|ALPHA-doc/);
  }
});

it('sends tenant B’s model a regeneration’s earlier draft, the reason and the edit, with nothing of tenant A; none of it in clear on Kafka or in Redis', async () => {
  const secret = `REGEN-${newId().slice(-8)}`;
  const earlier = {
    draft: `Hello Gus,\n\nBRAVO shipping policy: customers asking about shipping get an answer within 2 days. ${secret}-DRAFT`,
    reason: `Too formal, and mention the invoice policy ${secret}-REASON`,
    edited: `Hi Gus,\n\nYour invoice is on its way. ${secret}-EDIT`,
  };
  const { ticketId } = await regenerate(b, { name: 'Gus', subject: null, body: `What is your invoice policy? ${secret}-TICKET` }, earlier);
  const e = await outcome(ticketId);
  expect(e.type).toBe(DraftEvents.GENERATED);
  const sent = requests.filter((r) => r.route === 'bravo' && r.body.includes(`${secret}-TICKET`));
  expect(sent).toHaveLength(1);
  const { messages } = JSON.parse(sent[0]!.body) as { messages: { role: string; content: string }[] };
  const system = messages[0]!.content;
  expect(system).toContain('Bravoworks');
  expect(system).toContain(`"""\n${earlier.draft}\n"""`);
  expect(system).toContain(`The operator rejected it because: ${earlier.reason}`);
  expect(system).toContain(`The operator's corrected version of it:\n"""\n${earlier.edited}\n"""`);
  expect(sent[0]!.body).not.toMatch(/Alphacorp|ALPHA/);
  // The model's "[1]" is the operator's citation: the reply is published without it.
  const draft = e.payload as DraftGeneratedV1;
  expect(await cipher.decrypt(b, SupportFields.DRAFT_BODY, draft.bodyEnc)).not.toMatch(/\[\d+\]/);
  expect(draft.citations).toHaveLength(1);
  // The reason and the edit travel encrypted: not on Kafka, not in the job's data in Redis.
  const records = probe.records.filter((r) => r.value.toString('utf8').includes(ticketId)).map((r) => r.value.toString('utf8'));
  const job = await inspect.getJob(DraftingQueue.jobId(ticketId, 2));
  expect(job?.data.earlierDrafts).toHaveLength(1);
  for (const leaked of [...records, JSON.stringify(job?.data)]) expect(leaked).not.toContain(secret);
});

it('drafts again for a restore (by restore:<run>) though the attempt’s job is kept as done; the job id is the restore’s own', async () => {
  const ticketId = await receive(b, { name: 'Hana', subject: null, body: 'What is your invoice policy?' });
  const first = await outcome(ticketId);
  expect(first.type).toBe(DraftEvents.GENERATED);
  expect(await inspect.getJob(DraftingQueue.jobId(ticketId, 1))).toBeDefined(); // kept as done
  // The restore's request for the same attempt (its archive predates the attempt's job): a new draft id, a job of its own.
  const runId = newId();
  const draftId = newId();
  await world.tenantDb.withTenant(b, async (tx) =>
    publishInTx(
      tx,
      DraftEvents.REQUESTED,
      {
        tenantId: b,
        ticketId,
        draftId,
        attempt: 1,
        by: `restore:${runId}`,
        customerNameEnc: await cipher.encrypt(b, SupportFields.CUSTOMER_NAME, 'Hana'),
        subjectEnc: null,
        bodyEnc: await cipher.encrypt(b, SupportFields.BODY, 'What is your invoice policy?'),
        earlierDrafts: [],
      },
      { tenantId: b, producer: 'drafts', correlationId: runId },
    ),
  );
  const again = await waitFor('the restore’s draft', async () => outcomes(ticketId).find((e) => (e.payload as { draftId: string }).draftId === draftId), 60_000);
  expect(again.type).toBe(DraftEvents.GENERATED);
  expect((await inspect.getJob(DraftingQueue.jobId(ticketId, 1, `restore-${runId}`)))?.data).toMatchObject({ ticketId, draftId, attempt: 1 });
});

it('runs one tenant’s drafts one at a time under a cap of 1 while another tenant is served', async () => {
  const slow = await tenant('Slowcorp', 'SLOW', 'slow');
  const slowTickets: string[] = [];
  for (const topic of ['refund', 'shipping', 'warranty']) slowTickets.push(await receive(slow, { name: 'Hal', subject: null, body: `${topic}?` }));
  await waitFor('the slow tenant’s first model call', async () => requests.some((r) => r.route === 'slow'));
  const other = await receive(b, { name: 'Ivy', subject: null, body: 'What is your invoice policy?' });
  await outcome(other);
  // B's draft came while the slow tenant still had drafts waiting for their turn.
  expect(slowTickets.filter((t) => outcomes(t).length > 0).length).toBeLessThan(slowTickets.length);
  const done = await Promise.all(slowTickets.map(outcome));
  expect(done.every((e) => e.type === DraftEvents.GENERATED)).toBe(true);
  expect(maxInFlight.get('slow')).toBe(1);
});

it('skips, without throwing or publishing, a draft whose tenant is gone or whose data key was destroyed', async () => {
  const job = (t: TenantId) =>
    ({
      data: { tenantId: t, ticketId: newId(), draftId: newId(), attempt: 1, customerNameEnc: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', subjectEnc: null, bodyEnc: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', correlationId: newId(), causationId: newId() },
      attempts: 3,
      attemptsMade: 0,
      ranBefore: false,
    }) as unknown as RunningJob<DraftingJob>;
  expect(await worker.process(job(parseTenantId(newId())))).toBe('tenant-gone');
  const erased = await tenant('Erasedcorp', 'ERASED');
  await keyring.destroyKey(erased);
  expect(await worker.process(job(erased))).toBe('tenant-gone');
  const published = await world.tenantDb.withTenant(erased, (tx) => sql<{ n: number }>`select count(*)::int as n from outbox where type like 'draft.%'`.execute(tx.db).then((r) => r.rows));
  expect(published[0]!.n).toBe(0);
});

describe('drafting profiles from tenant.settings-changed', () => {
  /** The system messages a tenant's own model was sent, in order. */
  const systems = (route: string) => requests.filter((r) => r.route === route).map((r) => (JSON.parse(r.body) as { messages: { content: string }[] }).messages[0]!.content);

  it('drafts with the profile of the newest settings event, policies in order; an older event arriving late changes nothing', async () => {
    const t = await tenant('Foxtrotco', 'FOX', 'fox');
    const policies = ['Greet the customer by name.', 'Never promise a delivery date.', 'Sign as the Foxtrot team.'];
    await settings(t, { version: 2, companyName: 'Foxtrot & Sons', brandVoice: 'Dry and exact', policies });
    expect(await profileRow(t)).toMatchObject({ version: 2, company_name: 'Foxtrot & Sons', policies });
    expect((await outcome(await receive(t, { name: 'Jo', subject: null, body: 'Where is my refund?' }))).type).toBe(DraftEvents.GENERATED);
    const first = systems('fox').at(-1)!;
    expect(first).toContain('customer support of Foxtrot & Sons');
    expect(first).toContain('Voice: Dry and exact.');
    expect(first).toContain(`Policies you must keep:\n${policies.map((p) => `- ${p}`).join('\n')}`);
    expect(first).not.toContain('Foxtrotco');

    // Version 1 again (a late or replayed event): taken by the consumer, and ignored.
    await settings(t, { version: 1, companyName: 'Stale Foxtrot', brandVoice: 'Stale voice', policies: ['Stale policy'] });
    expect(await profileRow(t)).toMatchObject({ version: 2, company_name: 'Foxtrot & Sons', brand_voice: 'Dry and exact', policies });
    expect((await outcome(await receive(t, { name: 'Jo', subject: null, body: 'And my shipping?' }))).type).toBe(DraftEvents.GENERATED);
    const second = systems('fox').at(-1)!;
    expect(second).toContain('Foxtrot & Sons');
    expect(second).not.toMatch(/Stale/);
  });

  it('never lets tenant B’s event change tenant A’s profile: a payload naming A in B’s event is dead-lettered', async () => {
    const dlq = await KafkaProbe.start(deadLetterTopic(Topics.TENANTS));
    try {
      const before = await profileRow(a);
      expect(before).toMatchObject({ company_name: 'Alphacorp' });
      const forged = await world.tenantDb.withTenant(b, (tx) =>
        publishInTx(tx, TenantEvents.SETTINGS_CHANGED, settingsChanged(a, { version: 50, companyName: 'Hijacked', brandVoice: 'HIJACK' }), { tenantId: b, producer: 'provisioning', correlationId: newId() }),
      );
      // B's own next settings, behind the forged one in B's partition: applied to B only.
      await settings(b, { version: 2, companyName: 'Bravoworks', brandVoice: 'Speak as the BRAVO crew', policies: ['Never mention BRAVO internal codes.', 'BRAVO v2'] });
      const dead = await waitFor('the forged event in the dead-letter topic', async () => dlq.records.find((r) => r.headers[EventHeaders.ID] === forged.id), 30_000);
      expect(dead.headers).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'tenant-mismatch', [DlqHeaders.CONSUMER]: CONSUMER });
      expect(await consumed(b, forged.id)).toBe(false);
      expect(await profileRow(a)).toEqual(before);
      expect(await profileRow(b)).toMatchObject({ version: 2, company_name: 'Bravoworks', policies: ['Never mention BRAVO internal codes.', 'BRAVO v2'] });
      // And A's drafts are still A's.
      const draft = await outcome(await receive(a, { name: 'Kim', subject: null, body: 'What is your refund policy?' }));
      const body = await cipher.decrypt(a, SupportFields.DRAFT_BODY, (draft.payload as DraftGeneratedV1).bodyEnc);
      expect(body).toContain('Alphacorp Support');
      expect(body).not.toMatch(/Hijacked|BRAVO/);
    } finally {
      await dlq.close();
    }
  });

  it('gives a ticket whose tenant has no profile yet no draft with made-up settings: draft.failed drafting-profile-missing after its tries', async () => {
    const t = await tenant('Golfco', 'GOLF', 'golf', undefined, false);
    const ticketId = await receive(t, { name: 'Lee', subject: null, body: 'What is your refund policy?' });
    const failed = await outcome(ticketId);
    expect(failed).toMatchObject({ type: DraftEvents.FAILED, payload: { ticketId, code: 'drafting-profile-missing' } });
    await waitFor('the job to end failed', async () => (await inspect.getJob(DraftingQueue.jobId(ticketId, 1)))?.isFailed());
    expect((await inspect.getJob(DraftingQueue.jobId(ticketId, 1)))?.attemptsMade).toBe(3);
    expect(outcomes(ticketId)).toHaveLength(1);
    // No model was called: neither the tenant's own nor the platform's.
    expect(requests.filter((r) => r.route === 'golf')).toHaveLength(0);
  });
});
