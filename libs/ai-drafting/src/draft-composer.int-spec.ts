// Drafting from the tenant's own knowledge only, against the real shards and Weaviate: two tenants
// whose knowledge bases share their vocabulary; drafts for tenant B's tickets — written with the
// OpenAI chat adapter against a local server speaking chat-completions — send the model none of
// tenant A's passages, name or settings (asserted on every request the server received), and the
// offline drafter cites B's passages only.
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { LocalEmbedder, OfflineDrafter, OpenAiChatModel } from '@hotdash/platform-models';
import { KnowledgeChunk, WeaviateVectorStore } from '@hotdash/platform-vector';
import { TestWorld } from '@hotdash/testing';
import { DraftComposer } from './draft-composer';

jest.setTimeout(120_000);

const world = new TestWorld();
const embedder = new LocalEmbedder(256);
const collection = `DraftingTest${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const vectors = WeaviateVectorStore.fromConfig(world.config, { collection });
const composer = new DraftComposer(world.tenantDb, world.control, embedder, vectors);
let server: Server;
let base: string;
const received: string[] = [];
let a: TenantId;
let b: TenantId;
const TOPICS = ['refund', 'shipping', 'warranty', 'invoice', 'password', 'returns', 'delivery', 'exchange'];

/** Passages about every topic, each carrying the tenant's marker word. */
function passages(marker: string): KnowledgeChunk[] {
  return TOPICS.map((topic, i) => {
    const text = `${marker} ${topic} policy: customers asking about ${topic} get an answer within ${i + 1} days from the ${marker} team.`;
    return { id: randomUUID(), vector: embedder.vector(text), documentId: `${marker}-doc`, chunkIndex: i, text, title: `${marker} ${topic}`, sourceVersion: 1 };
  });
}

async function tenant(name: string, marker: string): Promise<TenantId> {
  const t = parseTenantId((await world.createTenant(name)).id);
  await world.tenantDb.withTenant(t, (tx) => tx.$executeRaw`insert into tenant_settings (tenant_id, brand_voice, policies, sla)
    values (${t}::uuid, ${`Speak as the ${marker} crew`}, ${`Never mention ${marker} internal codes.`}, '{}'::jsonb)`);
  await vectors.createTenant(t);
  await vectors.upsertChunks(t, passages(marker));
  return t;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push(raw);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ model: 'gpt-test', choices: [{ index: 0, message: { role: 'assistant', content: 'Thanks for asking [1].' } }], usage: { prompt_tokens: 100, completion_tokens: 5 } }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  await vectors.ensureCollection();
  a = await tenant('Alphacorp', 'ALPHA');
  b = await tenant('Bravoworks', 'BRAVO');
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await fetch(`${world.config.weaviate.url}/v1/schema/${collection}`, { method: 'DELETE' });
  await vectors.close();
  await world.close();
});

it('sends the model only the tenant’s own company, voice, policies and passages, for 50 tickets over shared vocabulary', async () => {
  const model = new OpenAiChatModel({ baseUrl: base, apiKey: 'sk-test', model: 'gpt-test' });
  for (let i = 0; i < 50; i++) {
    const topic = TOPICS[i % TOPICS.length]!;
    // The tickets even name tenant A's marker: retrieval still looks only in B's namespace.
    const { result, prompt } = await composer.compose(b, { customerName: 'Dana', subject: `${topic} question`, body: `What is your ${topic} policy? Is it like ALPHA ${topic}?` }, model);
    expect(prompt.passages.length).toBeGreaterThan(0);
    expect(prompt.passages.every((p) => p.text.startsWith('BRAVO'))).toBe(true);
    expect(result.citations.length).toBeLessThanOrEqual(1);
  }
  expect(received).toHaveLength(50);
  for (const body of received) {
    const { messages } = JSON.parse(body) as { messages: { role: string; content: string }[] };
    const system = messages[0]!.content;
    expect(system).toContain('Bravoworks');
    expect(system).toContain('Speak as the BRAVO crew');
    expect(system).toContain('Never mention BRAVO internal codes.');
    // Nothing of A: not its name, voice, policies or any passage (its marker appears only where the ticket itself wrote it).
    expect(system).not.toMatch(/Alphacorp|ALPHA crew|ALPHA internal|ALPHA [a-z]+ policy/);
  }
});

it('lets the offline drafter cite only the tenant’s own passages', async () => {
  const drafter = new OfflineDrafter();
  const bIds = new Set((await vectors.search(b, embedder.vector('BRAVO'), 100)).map((h) => h.id));
  for (const topic of TOPICS) {
    const { result } = await composer.compose(b, { customerName: null, subject: null, body: `How fast is your ${topic} answer?` }, drafter);
    expect(result.citations.length).toBeGreaterThan(0);
    expect(result.citations.every((id) => bIds.has(id))).toBe(true);
    expect(result.text).not.toContain('ALPHA');
  }
  // And A's drafts are A's.
  const { result } = await composer.compose(a, { customerName: null, subject: null, body: 'How fast is your refund answer?' }, drafter);
  expect(result.text).toContain('ALPHA refund policy');
});
