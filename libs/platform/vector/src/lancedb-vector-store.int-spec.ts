// LanceDbVectorStore (embedded, files in a scratch folder) keeps the same VectorStore contract as
// the Weaviate adapter, and keeps each tenant in a table of its own.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseTenantId } from '@hotdash/contracts';
import { LanceDbVectorStore, VectorStoreConfigError } from './index';
import { chunk, CONTRACT_DIMS, vectorStoreContract } from './vector-store.contract';

const directory = mkdtempSync(join(tmpdir(), 'hotdash-lancedb-'));
const store = new LanceDbVectorStore({ directory, dimensions: CONTRACT_DIMS });

afterAll(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

vectorStoreContract(() => store);

describe('embedded store', () => {
  it('keeps each tenant in its own table, and leaves out what is not a tenant’s', async () => {
    const t = parseTenantId(randomUUID());
    await store.createTenant(t);
    await store.upsertChunks(t, [chunk('d', 0, 0, 'hello')]);
    expect(readdirSync(directory)).toContain(`tenant_${t}.lance`);
    expect(await store.listTenants()).toContain(t);
  });

  it('refuses vectors of another size than the store’s, and a configuration without one', async () => {
    const t = parseTenantId(randomUUID());
    await store.createTenant(t);
    await expect(store.upsertChunks(t, [{ ...chunk('d', 0, 0, 'x'), vector: [1, 0, 0] }])).rejects.toThrow(/dimensions/);
    await expect(store.search(t, [1, 0, 0], 1)).rejects.toThrow(/dimensions/);
    expect(() => new LanceDbVectorStore({ directory, dimensions: 0 })).toThrow(VectorStoreConfigError);
  });
});
