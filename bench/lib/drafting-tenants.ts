// The tenants the ticket → draft benches send tickets to on the stack: an account each, ten policy
// passages in its Weaviate namespace (the services' defaults: the local embedder at 384 dimensions),
// its drafting profile published as provisioning announces it (the ai-drafting service keeps it).
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import type { LocalEmbedder } from '@hotdash/platform-models';
import type { KnowledgeChunk, WeaviateVectorStore } from '@hotdash/platform-vector';
import { createAccount, publishSettingsChanged, type TestWorld } from '@hotdash/testing';

export const TOPICS = ['refund', 'shipping', 'warranty', 'invoice', 'password', 'returns', 'delivery', 'exchange', 'discount', 'account'];

/** Tenant `i`'s policy passage on `topic` (the k-th). */
export const policyText = (topic: string, k: number, i: number) => `${topic} policy: customers asking about their ${topic} get an answer within ${k + 1} business days; tenant ${i} handles it.`;

/** The i-th ticket's customer and text. */
export function ticketText(i: number) {
  const topic = TOPICS[i % TOPICS.length]!;
  return { name: `Customer ${i}`, email: `c${i}@customer.test`, subject: `Question about ${topic}`, body: `Hello, I have a question about my ${topic}: how long does it take and what do I need to do? Order ${i}.` };
}

/**
 * Makes `count` tenants on the stack. Each tenant's id is pushed onto `namespaces` as soon as its
 * namespace may exist, so the caller deletes them whatever happens. Returns the tenants and the
 * databases of the shards they live on.
 */
export async function makeDraftingTenants(
  world: TestWorld,
  vectors: WeaviateVectorStore,
  embedder: LocalEmbedder,
  count: number,
  namespaces: TenantId[],
  progress: (made: number) => void = () => undefined,
): Promise<{ tenants: TenantId[]; shardDbs: string[] }> {
  const tenants: TenantId[] = [];
  const shardDbs: string[] = [];
  await vectors.ensureCollection();
  for (let i = 0; i < count; i++) {
    const t = parseTenantId((await createAccount(world, 'admin')).tenantId);
    namespaces.push(t);
    await vectors.createTenant(t);
    const chunks: KnowledgeChunk[] = TOPICS.map((topic, k) => {
      const text = policyText(topic, k, i);
      return { id: newId(), vector: embedder.vector(text), documentId: `policy-${topic}`, chunkIndex: k, text, title: `${topic} policy`, sourceVersion: 1 };
    });
    await vectors.upsertChunks(t, chunks);
    await publishSettingsChanged(world, t, { companyName: `Bench tenant ${i}`, brandVoice: 'Friendly', policies: ['Be brief.'] });
    tenants.push(t);
    const shard = await world.router.shardOf(t);
    if (!shardDbs.includes(shard.database)) shardDbs.push(shard.database);
    progress(i + 1);
  }
  return { tenants, shardDbs };
}
