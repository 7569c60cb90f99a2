// Drafting from the tenant's own knowledge and drafting profile only, against the real shards and
// Weaviate: two tenants whose knowledge bases share their vocabulary; drafts for tenant B's tickets
// — written with the OpenAI chat adapter against a local server speaking chat-completions — send
// the model none of tenant A's passages, name or settings (asserted on every request the server
// received), and the offline drafter cites B's passages only. The profiles are ai-drafting's own
// (drafting_profiles), applied from tenant.settings-changed payloads as the consumer applies them:
// the profile shapes the prompt (company, voice, policies in order), a newer version replaces it,
// an older one is ignored, and one tenant's event never reaches another tenant's profile. The
// reply carries no citation markers (a model's are taken out, its cited passages kept), and a
// regeneration after a rejection follows the operator's reason: a different draft that reflects it.
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { chatMessages, EarlierDraft, LocalEmbedder, OfflineDrafter, OpenAiChatModel } from '@hotdash/platform-models';
import { KnowledgeChunk, WeaviateVectorStore } from '@hotdash/platform-vector';
import { DraftingProfileFixture, settingsChanged, TestWorld } from '@hotdash/testing';
import { DraftComposer, UNNAMED_COMPANY } from './draft-composer';
import { DraftingProfile, DraftingProfiles } from './drafting-profiles.repository';

jest.setTimeout(120_000);

const world = new TestWorld();
const embedder = new LocalEmbedder(256);
const collection = `DraftingTest${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const vectors = WeaviateVectorStore.fromConfig(world.config, { collection });
const composer = new DraftComposer(embedder, vectors);
const profiles = new DraftingProfiles(world.tenantDb);
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

/** Applies a settings event's payload to the tenant's profile, as the ai-drafting consumer does (in the tenant's transaction). */
const apply = (t: TenantId, profile: DraftingProfileFixture): Promise<boolean> =>
  world.tenantDb.withTenant(t, (tx) => DraftingProfiles.apply(tx, t, settingsChanged(t, profile), newId()));
const profileOf = async (t: TenantId): Promise<DraftingProfile> => (await profiles.of(t))!;

async function tenant(name: string, marker: string): Promise<TenantId> {
  const t = parseTenantId((await world.createTenant(name)).id);
  await apply(t, { companyName: name, brandVoice: `Speak as the ${marker} crew`, policies: [`Never mention ${marker} internal codes.`] });
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
    const { result, prompt } = await composer.compose(b, await profileOf(b), { customerName: 'Dana', subject: `${topic} question`, body: `What is your ${topic} policy? Is it like ALPHA ${topic}?` }, model);
    expect(prompt.passages.length).toBeGreaterThan(0);
    expect(prompt.passages.every((p) => p.text.startsWith('BRAVO'))).toBe(true);
    expect(result.citations.length).toBeLessThanOrEqual(1);
    // The model's "[1]" is the operator's citation, not the customer's text.
    expect(result.text).toBe('Thanks for asking.');
    expect(result.citations).toEqual([prompt.passages[0]!.id]);
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
    const { result } = await composer.compose(b, await profileOf(b), { customerName: null, subject: null, body: `How fast is your ${topic} answer?` }, drafter);
    expect(result.citations.length).toBeGreaterThan(0);
    expect(result.citations.every((id) => bIds.has(id))).toBe(true);
    expect(result.text).not.toContain('ALPHA');
  }
  // And A's drafts are A's.
  const { result } = await composer.compose(a, await profileOf(a), { customerName: null, subject: null, body: 'How fast is your refund answer?' }, drafter);
  expect(result.text).toContain('ALPHA refund policy');
});

describe('the drafting profile', () => {
  const ticket = { customerName: 'Dana', subject: 'Refund', body: 'What is your refund policy?' };
  const system = async (t: TenantId) => chatMessages((await composer.prompt(t, await profileOf(t), ticket)).prompt)[0]!.content;

  it('shapes the prompt from the settings event: company, voice and policies in the tenant’s order', async () => {
    const t = await tenant('Charliefield', 'CHARLIE');
    const policies = ['Never promise a refund above 100 EUR.', 'Always name the order number.', 'Do not mention competitors.'];
    expect(await apply(t, { version: 2, companyName: 'Charliefield Goods', brandVoice: 'Crisp, warm, no exclamation marks', policies })).toBe(true);
    const { prompt } = await composer.prompt(t, await profileOf(t), ticket);
    expect(prompt).toMatchObject({ companyName: 'Charliefield Goods', brandVoice: 'Crisp, warm, no exclamation marks', policies });
    const text = await system(t);
    expect(text).toContain('customer support of Charliefield Goods');
    expect(text).toContain('Voice: Crisp, warm, no exclamation marks.');
    expect(text).toContain(`Policies you must keep:\n${policies.map((p) => `- ${p}`).join('\n')}`);
    // No policies: no policies section at all, and nothing made up in its place.
    expect(await apply(t, { version: 3, companyName: 'Charliefield Goods', brandVoice: 'Crisp', policies: [] })).toBe(true);
    expect((await composer.prompt(t, await profileOf(t), ticket)).prompt.policies).toEqual([]);
    expect(await system(t)).not.toMatch(/Polic/);
  });

  it('is replaced by a newer settings event and kept against an older or repeated one', async () => {
    const t = await tenant('Deltaworks', 'DELTA');
    expect(await apply(t, { version: 5, companyName: 'Deltaworks', brandVoice: 'Voice five', policies: ['Policy five'] })).toBe(true);
    expect(await profileOf(t)).toMatchObject({ version: 5, brandVoice: 'Voice five', policies: ['Policy five'] });
    // Late arrivals of older versions, and the same version again, change nothing.
    expect(await apply(t, { version: 4, companyName: 'Old name', brandVoice: 'Voice four', policies: [], model: { mode: 'platform', model: 'old' } })).toBe(false);
    expect(await apply(t, { version: 5, companyName: 'Same version', brandVoice: 'Voice five again', policies: [] })).toBe(false);
    expect(await profileOf(t)).toMatchObject({ version: 5, companyName: 'Deltaworks', brandVoice: 'Voice five', policies: ['Policy five'], model: { model: 'platform-default' } });
    expect(await system(t)).toContain('Voice: Voice five.');
    // A newer one replaces all of it, model settings included (the key stays a token).
    const keyEnc = 'v1.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB';
    expect(
      await apply(t, { version: 6, companyName: 'Delta Works Ltd', brandVoice: 'Voice six', policies: ['Six a', 'Six b'], model: { mode: 'own', provider: 'openai', model: 'gpt-six', baseUrl: 'https://models.delta.example/v1', apiKeyEnc: keyEnc, temperature: 0.5, maxTokens: 300 } }),
    ).toBe(true);
    expect(await profileOf(t)).toMatchObject({
      version: 6,
      companyName: 'Delta Works Ltd',
      policies: ['Six a', 'Six b'],
      model: { mode: 'own', provider: 'openai', model: 'gpt-six', baseUrl: 'https://models.delta.example/v1', apiKeyEnc: keyEnc, temperature: 0.5, maxTokens: 300 },
    });
    expect(await system(t)).toMatch(/Delta Works Ltd[\s\S]*Voice: Voice six\.[\s\S]*- Six a\n- Six b/);
  });

  it('of one tenant is never changed by another tenant’s event', async () => {
    const before = await profileOf(a);
    // B's newer settings land in B's profile only.
    expect(await apply(b, { version: 99, companyName: 'Bravoworks', brandVoice: 'Speak as the BRAVO crew, louder', policies: ['BRAVO only'] })).toBe(true);
    expect(await profileOf(a)).toEqual(before);
    // An event naming A applied in B's transaction is refused by row-level security: nothing of A changes.
    await expect(world.tenantDb.withTenant(b, (tx) => DraftingProfiles.apply(tx, a, settingsChanged(a, { version: 100, companyName: 'Hijacked' }), newId()))).rejects.toThrow(/row-level security/);
    expect(await profileOf(a)).toEqual(before);
    expect(await system(a)).not.toMatch(/BRAVO|Hijacked/);
  });

  it('falls back to a neutral company while a backfilled profile has no name yet', async () => {
    const t = await tenant('Echoline', 'ECHO');
    await world.tenantDb.withTenant(t, (tx) => tx.db.updateTable('drafting_profiles').set({ company_name: null, version: 0 }).where('tenant_id', '=', t).execute());
    expect((await composer.prompt(t, await profileOf(t), ticket)).prompt.companyName).toBe(UNNAMED_COMPANY);
    // The first settings event replaces the backfill.
    expect(await apply(t, { version: 1, companyName: 'Echoline' })).toBe(true);
    expect((await composer.prompt(t, await profileOf(t), ticket)).prompt.companyName).toBe('Echoline');
  });
});

describe('a regeneration after a rejection', () => {
  const drafter = new OfflineDrafter();
  const ticket = { customerName: 'Dana Whitfield', subject: 'Refund', body: 'How long does my refund take to reach my card?' };
  let t: TenantId;

  beforeAll(async () => {
    t = parseTenantId((await world.createTenant('Hotelfield')).id);
    await apply(t, { companyName: 'Hotelfield', brandVoice: 'Warm and brief', policies: [] });
    await vectors.createTenant(t);
    // Passages as the knowledge service indexes a markdown handbook: a heading line, then the text.
    const texts = [
      ['Refunds', 'Refunds\n\nA refund reaches the card you paid with within five business days. Refunds are issued once the returned item has been checked. Refunds for gift cards go to a new gift card.'],
      ['Returns', 'Returns\n\nYou can return unused items within 30 days of delivery. Return shipping is free for members.'],
      ['Warranty', 'Warranty\n\nEvery Hotelfield device carries a two-year warranty. A warranty claim needs the order number.'],
    ];
    await vectors.upsertChunks(
      t,
      texts.map(([title, text], i) => ({ id: randomUUID(), vector: embedder.vector(`${title}\n${text}`), documentId: `hotel-${title}`, chunkIndex: i, text: text!, title: title!, sourceVersion: 1 })),
    );
  });

  const draft = async (earlierDrafts: EarlierDraft[] = []) => composer.compose(t, await profileOf(t), ticket, drafter, earlierDrafts);
  const rejected = (text: string, reason: string): EarlierDraft[] => [{ attempt: 1, text, rejectionReason: reason, editedText: null }];

  it('writes the first draft as a reply: greeting, plain sentences, no headings or markers', async () => {
    const { result, cited } = await draft();
    expect(result.text).toMatch(/^Hello Dana Whitfield,\n\nThank you for reaching out\. A refund reaches the card you paid with within five business days\./);
    expect(result.text).not.toMatch(/\[\d+\]|^Refunds\.?$/m);
    expect(result.text).toMatch(/Kind regards,\nHotelfield Support$/);
    expect(cited.map((c) => c.title)).toContain('Refunds');
  });

  it('"too long": a different, shorter draft', async () => {
    const first = (await draft()).result;
    const { result, prompt } = await draft(rejected(first.text, 'Too long'));
    expect(prompt.earlierDrafts).toEqual(rejected(first.text, 'Too long'));
    expect(result.text).not.toBe(first.text);
    expect(result.text.length).toBeLessThan(first.text.length);
    expect(result.text).toContain('A refund reaches the card you paid with within five business days.');
  });

  it('"mention the warranty": the reason finds the passage, and the draft says it', async () => {
    const first = (await draft()).result;
    expect(first.text).not.toContain('warranty');
    const { result, cited } = await draft(rejected(first.text, 'Please also mention the two-year warranty'));
    expect(result.text).toContain('Every Hotelfield device carries a two-year warranty.');
    expect(cited.map((c) => c.title)).toContain('Warranty');
  });

  it('"wrong topic": none of the rejected draft’s passages again, and nothing of another tenant', async () => {
    const first = await draft();
    const { result, cited } = await draft(rejected(first.result.text, 'Wrong topic: the customer asks about returns'));
    expect(result.text).not.toBe(first.result.text);
    expect(cited.map((c) => c.chunkId).filter((id) => first.cited.some((c) => c.chunkId === id))).toEqual([]);
    expect(result.text).toContain('You can return unused items within 30 days of delivery.');
    expect(result.text).not.toMatch(/ALPHA|BRAVO/);
  });
});
