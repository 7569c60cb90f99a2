// The contract every VectorStore adapter keeps, run by each adapter's spec against the real store
// (weaviate-vector-store.int-spec.ts, lancedb-vector-store.int-spec.ts). Tenant isolation is proven
// from the attacker's side: tenant B aims every call at tenant A's data and gets nothing, changes
// nothing.
import { randomUUID } from 'node:crypto';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { VectorTenantNotFoundError } from './errors';
import type { KnowledgeChunk, VectorStore } from './vector-store';

export const CONTRACT_DIMS = 8;

/** A unit vector along axis `axis`, nudged a little towards axis+1 by `tilt`. */
export function vec(axis: number, tilt = 0): number[] {
  const v = new Array<number>(CONTRACT_DIMS).fill(0);
  v[axis % CONTRACT_DIMS] = 1;
  v[(axis + 1) % CONTRACT_DIMS] = tilt;
  return v;
}

export function chunk(documentId: string, chunkIndex: number, axis: number, text: string): KnowledgeChunk {
  return { id: randomUUID(), vector: vec(axis, chunkIndex * 0.01), documentId, chunkIndex, text, title: `Title of ${documentId}`, sourceVersion: 1 };
}

/**
 * Declares the contract's specs for one adapter. `store()` is called when the specs run (after the
 * adapter spec's own setup); the adapter spec cleans up after itself.
 */
export function vectorStoreContract(store: () => VectorStore): void {
  const tenantA = parseTenantId(randomUUID());
  const tenantB = parseTenantId(randomUUID());

  describe('contract: tenants', () => {
    it('are created and deleted idempotently', async () => {
      const s = store();
      const t = parseTenantId(randomUUID());
      expect(await s.tenantExists(t)).toBe(false);
      await s.createTenant(t);
      await s.createTenant(t);
      expect(await s.tenantExists(t)).toBe(true);
      expect(await s.listTenants()).toContain(t);
      await s.deleteTenant(t);
      await s.deleteTenant(t);
      expect(await s.tenantExists(t)).toBe(false);
      expect(await s.listTenants()).not.toContain(t);
    });

    it('A and B get their namespaces', async () => {
      const s = store();
      await Promise.all([s.createTenant(tenantA), s.createTenant(tenantB)]);
      expect(await s.listTenants()).toEqual(expect.arrayContaining([tenantA, tenantB]));
    });
  });

  describe('contract: two tenants', () => {
    const aDoc = `doc-${randomUUID()}`;
    const aOther = `doc-${randomUUID()}`;
    const bDoc = `doc-${randomUUID()}`;
    const aChunks = [chunk(aDoc, 0, 0, 'refunds within 30 days'), chunk(aDoc, 1, 1, 'shipping to EU'), chunk(aDoc, 2, 2, 'warranty two years')];
    const aOtherChunk = chunk(aOther, 0, 3, 'opening hours of the helpdesk');
    const bChunks = [chunk(bDoc, 0, 4, 'B pricing and refunds'), chunk(bDoc, 1, 5, 'B returns')];

    it('A writes chunks and finds them by search, nearest first', async () => {
      const s = store();
      await s.upsertChunks(tenantA, [...aChunks, aOtherChunk]);
      await s.upsertChunks(tenantB, bChunks);
      expect(await s.countObjects(tenantA)).toBe(4);
      expect(await s.countObjects(tenantB)).toBe(2);

      const hits = await s.search(tenantA, vec(1), 2);
      expect(hits).toHaveLength(2);
      expect(hits[0]).toEqual({ id: aChunks[1]!.id, documentId: aDoc, chunkIndex: 1, text: 'shipping to EU', title: `Title of ${aDoc}`, distance: expect.any(Number) });
      expect(hits[0]!.distance).toBeLessThan(0.001);
      expect(hits[1]!.distance).toBeGreaterThan(hits[0]!.distance);
      const all = await s.search(tenantA, vec(4), 100);
      expect(all.map((h) => h.id).sort()).toEqual([...aChunks, aOtherChunk].map((c) => c.id).sort());
    });

    it('hybrid search puts the chunk matching the words first, even when its vector is not the nearest', async () => {
      const s = store();
      // The vector is nearest to "shipping to EU" (axis 1), then to the helpdesk's opening hours (axis 3);
      // the words name only the opening hours: fused, they come first.
      const between = vec(1).map((x, i) => x + (i === 3 ? 0.8 : 0));
      expect((await s.search(tenantA, between, 1))[0]!.id).toBe(aChunks[1]!.id);
      const hits = await s.hybridSearch(tenantA, { text: 'opening hours helpdesk', vector: between, limit: 3 });
      expect(hits.length).toBeGreaterThan(0);
      expect(hits[0]).toMatchObject({ id: aOtherChunk.id, documentId: aOther, text: 'opening hours of the helpdesk', score: expect.any(Number) });
      for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
      // Without words, the vector alone ranks.
      const vectorOnly = await s.hybridSearch(tenantA, { text: '  ', vector: vec(1), limit: 1 });
      expect(vectorOnly.map((h) => h.id)).toEqual([aChunks[1]!.id]);
    });

    it('writing the same id again replaces the chunk', async () => {
      const s = store();
      await s.upsertChunks(tenantA, [{ ...aChunks[0]!, text: 'refunds within 60 days', sourceVersion: 2 }]);
      expect(await s.countObjects(tenantA)).toBe(4);
      const [hit] = await s.search(tenantA, vec(0), 1);
      expect(hit).toMatchObject({ id: aChunks[0]!.id, text: 'refunds within 60 days' });
    });

    describe('as tenant B, attacking A', () => {
      it('search with the exact vector of A’s chunk finds only B’s chunks', async () => {
        const hits = await store().search(tenantB, aChunks[0]!.vector, 100);
        expect(hits.map((h) => h.id).sort()).toEqual(bChunks.map((c) => c.id).sort());
      });

      it('hybrid search with A’s words and A’s vector finds only B’s chunks', async () => {
        const hits = await store().hybridSearch(tenantB, { text: 'refunds within 60 days warranty shipping', vector: aChunks[0]!.vector, limit: 100 });
        expect(hits.length).toBeGreaterThan(0);
        expect(hits.every((h) => h.documentId === bDoc)).toBe(true);
      });

      it('count sees only B’s chunks', async () => {
        expect(await store().countObjects(tenantB)).toBe(2);
      });

      it('deleteByDocument of A’s document deletes nothing, in A or in B', async () => {
        const s = store();
        expect(await s.deleteByDocument(tenantB, aDoc)).toBe(0);
        expect(await s.countObjects(tenantA)).toBe(4);
        expect(await s.countObjects(tenantB)).toBe(2);
        expect((await s.search(tenantA, vec(0), 1))[0]!.id).toBe(aChunks[0]!.id);
      });

      it('writing a chunk with the id of A’s chunk creates B’s own copy and leaves A’s untouched', async () => {
        const s = store();
        await s.upsertChunks(tenantB, [{ ...aChunks[2]!, documentId: aDoc, text: 'overwritten by B' }]);
        const [aHit] = await s.search(tenantA, aChunks[2]!.vector, 1);
        expect(aHit).toMatchObject({ id: aChunks[2]!.id, text: 'warranty two years' });
        expect(await s.countObjects(tenantA)).toBe(4);
        expect(await s.countObjects(tenantB)).toBe(3);
        expect(await s.deleteByDocument(tenantB, aDoc)).toBe(1);
        expect(await s.countObjects(tenantB)).toBe(2);
        expect(await s.countObjects(tenantA)).toBe(4);
      });
    });

    it('deleteByDocument deletes exactly that document’s chunks (ids match whole, quotes are data)', async () => {
      const s = store();
      expect(await s.deleteByDocument(tenantA, 'doc')).toBe(0);
      expect(await s.deleteByDocument(tenantA, aDoc.split('-')[1]!)).toBe(0);
      expect(await s.deleteByDocument(tenantA, `${aDoc}' or '1'='1`)).toBe(0);
      expect(await s.deleteByDocument(tenantA, aDoc)).toBe(3);
      expect(await s.deleteByDocument(tenantA, aDoc)).toBe(0);
      expect(await s.countObjects(tenantA)).toBe(1);
      expect((await s.search(tenantA, vec(0), 10)).map((h) => h.documentId)).toEqual([aOther]);
      await s.upsertChunks(tenantA, aChunks);
      expect(await s.countObjects(tenantA)).toBe(4);
    });

    it('deleteByDocument with olderThanVersion deletes only the chunks of earlier versions', async () => {
      const s = store();
      const doc = `doc-${randomUUID()}`;
      const v1 = [chunk(doc, 0, 6, 'old one'), chunk(doc, 1, 6, 'old two')];
      const v2 = [{ ...chunk(doc, 0, 7, 'new one'), sourceVersion: 2 }];
      await s.upsertChunks(tenantA, [...v1, ...v2]);
      expect(await s.deleteByDocument(tenantA, doc, { olderThanVersion: 2 })).toBe(2);
      expect((await s.search(tenantA, vec(7), 10)).filter((h) => h.documentId === doc).map((h) => h.text)).toEqual(['new one']);
      await expect(s.deleteByDocument(tenantA, doc, { olderThanVersion: -1 })).rejects.toThrow(TypeError);
      expect(await s.deleteByDocument(tenantA, doc)).toBe(1);
      expect(await s.countObjects(tenantA)).toBe(4);
    });

    it('exportChunks copies A’s namespace page by page in id order, vectors included, and nothing of B', async () => {
      const s = store();
      const exported = async (t: TenantId, pageSize?: number) => {
        const pages: KnowledgeChunk[][] = [];
        for await (const p of s.exportChunks(t, pageSize)) pages.push(p);
        return pages;
      };
      const pages = await exported(tenantA, 3);
      expect(pages.map((p) => p.length)).toEqual([3, 1]);
      const all = pages.flat();
      const expected = [...aChunks, aOtherChunk].sort((x, y) => (x.id < y.id ? -1 : 1));
      expect(all.map((c) => c.id)).toEqual(expected.map((c) => c.id));
      all.forEach((c, i) => {
        const { vector, ...rest } = expected[i]!;
        expect(c).toMatchObject(rest);
        expect(c.vector).toHaveLength(vector.length);
        c.vector.forEach((x, j) => expect(x).toBeCloseTo(vector[j]!, 5));
      });
      // Written back as they came out, they come out the same: the copy is exact.
      await s.upsertChunks(tenantA, all);
      expect((await exported(tenantA)).flat()).toEqual(all);
      expect((await exported(tenantB)).flat().map((c) => c.id)).toEqual(bChunks.map((c) => c.id).sort());
      const missing = parseTenantId(randomUUID());
      await expect(exported(missing)).rejects.toThrow(VectorTenantNotFoundError);
    });

    it('deleteTenant removes A’s objects while B’s remain', async () => {
      const s = store();
      expect({ a: await s.countObjects(tenantA), b: await s.countObjects(tenantB) }).toEqual({ a: 4, b: 2 });
      await s.deleteTenant(tenantA);
      expect(await s.tenantExists(tenantA)).toBe(false);
      await expect(s.countObjects(tenantA)).rejects.toThrow(VectorTenantNotFoundError);
      await expect(s.search(tenantA, vec(0), 5)).rejects.toThrow(VectorTenantNotFoundError);
      await expect(s.hybridSearch(tenantA, { text: 'refunds', vector: vec(0), limit: 5 })).rejects.toThrow(VectorTenantNotFoundError);
      await expect(s.deleteByDocument(tenantA, aDoc)).rejects.toThrow(VectorTenantNotFoundError);
      await expect(s.upsertChunks(tenantA, [aOtherChunk])).rejects.toThrow(VectorTenantNotFoundError);
      expect(await s.countObjects(tenantB)).toBe(2);
      expect((await s.search(tenantB, vec(4), 10)).map((h) => h.documentId)).toEqual([bDoc, bDoc]);
      // A namespace created again under the same tenant id starts empty: the objects are gone, not hidden.
      await s.createTenant(tenantA);
      expect(await s.countObjects(tenantA)).toBe(0);
      expect(await s.search(tenantA, vec(0), 10)).toEqual([]);
    });
  });

  describe('contract: input', () => {
    it('every data call needs a real tenant id, checked before anything is sent', async () => {
      const s = store();
      const bad = ['', 'not-a-uuid', undefined, `${tenantB}") { x } #`] as unknown as TenantId[];
      for (const t of bad) {
        await expect(s.search(t, vec(0), 1)).rejects.toThrow(TypeError);
        await expect(s.hybridSearch(t, { text: 'x', vector: vec(0), limit: 1 })).rejects.toThrow(TypeError);
        await expect(s.countObjects(t)).rejects.toThrow(TypeError);
        await expect(s.deleteByDocument(t, 'd')).rejects.toThrow(TypeError);
        await expect(s.upsertChunks(t, [chunk('d', 0, 0, 'x')])).rejects.toThrow(TypeError);
        await expect(s.createTenant(t)).rejects.toThrow(TypeError);
        await expect(s.deleteTenant(t)).rejects.toThrow(TypeError);
        await expect(s.tenantExists(t)).rejects.toThrow(TypeError);
      }
    });

    it('refuses vectors, limits and chunks that are not well formed', async () => {
      const s = store();
      await expect(s.search(tenantB, [0, Number.NaN], 1)).rejects.toThrow(/finite/);
      await expect(s.search(tenantB, vec(0), 0)).rejects.toThrow(RangeError);
      await expect(s.hybridSearch(tenantB, { text: 'x', vector: vec(0), limit: 100_000 })).rejects.toThrow(RangeError);
      await expect(s.upsertChunks(tenantB, [{ ...chunk('d', 0, 0, 'x'), id: 'nope' }])).rejects.toThrow(/UUID/);
      await expect(s.upsertChunks(tenantB, [chunk('d', 0, 0, 'x'), { ...chunk('d', 1, 0, 'x'), vector: [1, 2] }])).rejects.toThrow(/dimensions/);
      expect(await s.countObjects(tenantB)).toBe(2);
    });
  });
}
