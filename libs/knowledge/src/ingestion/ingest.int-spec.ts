// Indexing documents and retrieving passages against both vector stores (the real local Weaviate
// in a collection of this spec's own, and LanceDB in a scratch folder), with the offline embedder:
// progress, replacement (old passages gone at once), idempotent re-runs, and retrieval isolation
// from the attacker's side — 1,000 random queries as tenant B over vocabulary both tenants share
// return none of tenant A's passages.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { LocalEmbedder } from '@hotdash/platform-models';
import { LanceDbVectorStore, retrievePassages, VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { makePdf } from '../testing/pdf';
import { indexDocument } from './ingest';

jest.setTimeout(120_000);

const embedder = new LocalEmbedder(256);
const config = loadConfig();
const collection = `KnowledgeIngestTest${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const lanceDir = mkdtempSync(join(tmpdir(), 'hotdash-ingest-'));
const stores: [string, VectorStore][] = [
  ['weaviate', WeaviateVectorStore.fromConfig(config, { collection })],
  ['lancedb', new LanceDbVectorStore({ directory: lanceDir, dimensions: embedder.dimensions })],
];

afterAll(async () => {
  await fetch(`${config.weaviate.url}/v1/schema/${collection}`, { method: 'DELETE' });
  await Promise.all(stores.map(([, s]) => s.close()));
  rmSync(lanceDir, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);

/** A support article of `n` paragraphs about the topic, each naming the tenant's marker. */
function article(marker: string, topic: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `## ${topic} ${i}\n\n${marker} customers: our ${topic} policy paragraph ${i} explains refunds, shipping, returns, warranty and invoices for orders placed online.`).join('\n\n');
}

describe.each(stores)('with %s', (_name, vectors) => {
  const a = parseTenantId(randomUUID());
  const b = parseTenantId(randomUUID());

  beforeAll(async () => {
    await vectors.ensureCollection();
    await vectors.createTenant(a);
    await vectors.createTenant(b);
  });

  it('indexes a document with progress up to 100, and finds its passages', async () => {
    const progress: number[] = [];
    const out = await indexDocument(
      { tenantId: a, documentId: 'faq', version: 1, title: 'FAQ', type: 'text/markdown', bytes: bytes(article('ALPHA', 'refund', 12)) },
      { embedder, vectors, chunking: { maxChars: 400, overlapChars: 50 }, batchSize: 4 },
      (p) => void progress.push(p),
    );
    expect(out).toMatchObject({ chunks: expect.any(Number), tokens: 0, model: 'local-hash-256', removed: 0 });
    expect(out.chunks).toBeGreaterThan(4);
    expect(progress[progress.length - 1]).toBe(100);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(await vectors.countObjects(a)).toBe(out.chunks);
    const { hits } = await retrievePassages(a, 'refund policy paragraph 7', 3, { embedder, vectors });
    expect(hits[0]!.text).toContain('paragraph 7');
  });

  it('replaces a document: the new version’s passages in, the old ones gone; a re-run changes nothing', async () => {
    const v2 = { tenantId: a, documentId: 'faq', version: 2, title: 'FAQ', type: 'application/pdf' as const, bytes: makePdf([['ALPHA customers: returns are free for 60 days.'], ['Exchanges are free too.']]) };
    const out = await indexDocument(v2, { embedder, vectors });
    expect(out).toMatchObject({ chunks: 1, pages: 2 });
    expect(out.removed).toBeGreaterThan(4);
    expect(await vectors.countObjects(a)).toBe(1);
    const { hits } = await retrievePassages(a, 'refund policy paragraph 7', 5, { embedder, vectors });
    expect(hits.map((h) => h.text)).toEqual([expect.stringContaining('returns are free for 60 days')]);
    // Again (a job retried after a crash): same chunk ids, same count.
    expect(await indexDocument(v2, { embedder, vectors })).toMatchObject({ chunks: 1, removed: 0 });
    expect(await vectors.countObjects(a)).toBe(1);
  });

  it('as tenant B, 1,000 random queries over the vocabulary both share return none of A’s passages', async () => {
    await indexDocument({ tenantId: a, documentId: 'faq', version: 3, title: 'FAQ', type: 'text/markdown', bytes: bytes(article('ALPHA', 'refund', 8)) }, { embedder, vectors, chunking: { maxChars: 300 } });
    await indexDocument({ tenantId: a, documentId: 'terms', version: 1, title: 'Terms', type: 'text/html', bytes: bytes(`<h1>Terms</h1><p>${article('ALPHA', 'shipping', 4)}</p>`) }, { embedder, vectors });
    await indexDocument({ tenantId: b, documentId: 'help', version: 1, title: 'Help', type: 'text/plain', bytes: bytes(article('BRAVO', 'refund', 6)) }, { embedder, vectors, chunking: { maxChars: 300 } });
    const aTexts = new Set((await vectors.search(a, embedder.vector('ALPHA refund'), 100)).map((h) => h.text));
    expect(aTexts.size).toBeGreaterThan(3);
    const vocabulary = 'ALPHA BRAVO customers our refund shipping policy paragraph explains refunds returns warranty invoices orders placed online terms faq help 0 1 2 3 4 5 6 7'.split(' ');
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let hitsSeen = 0;
    for (let q = 0; q < 1_000; q++) {
      const words = Array.from({ length: 1 + Math.floor(random() * 6) }, () => vocabulary[Math.floor(random() * vocabulary.length)]!);
      const { hits } = await retrievePassages(b as TenantId, words.join(' '), 5, { embedder, vectors });
      hitsSeen += hits.length;
      for (const h of hits) {
        expect([h.documentId, h.text.includes('ALPHA'), aTexts.has(h.text)]).toEqual(['help', false, false]);
      }
    }
    expect(hitsSeen).toBeGreaterThan(1_000);
  });
});
