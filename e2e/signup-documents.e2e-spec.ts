// A sign-up with initial knowledge-base documents, across processes (provisioning, knowledge and
// the relay; real shards, Redis, Kafka, Weaviate): provisioning only asks knowledge for the
// documents (knowledge.document-submitted, the text encrypted), knowledge stores them as uploads,
// announces them (knowledge.documents-stored) and indexes them, so the new tenant's documents end
// indexed and searchable; the admin's invitation e-mail goes out through the platform's mail port.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Envelope, parseTenantId } from '@hotdash/contracts';
import { KB_SOURCE_FIELD } from '@hotdash/knowledge';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { internalAuthorization, opsCaller, ServiceProcess, startServices, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(180_000);

const PROVISIONING = 'http://127.0.0.1:3217';
const KNOWLEDGE = 'http://127.0.0.1:3219';
const RELAY = 'http://127.0.0.1:3266';
const MAIL_DIR = mkdtempSync(join(tmpdir(), 'hotdash-signup-mail-'));
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors); // the sign-up's, deleted at the end
let processes: ServiceProcess[] = [];

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3217' }, url: PROVISIONING },
    { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: '3219' }, url: KNOWLEDGE },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3266', HOTDASH_MAIL_DIR: MAIL_DIR }, url: RELAY },
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
  rmSync(MAIL_DIR, { recursive: true, force: true });
}, 30_000);

// As the gateway calls provisioning for a platform operator.
const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${PROVISIONING}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('signup-spec')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

it('ends a sign-up with its initial documents indexed by knowledge, and mails the admin’s invitation', async () => {
  const email = `owner-${newId().slice(-8)}@signup-documents.test`;
  const documents = [
    { title: 'Returns', content: 'Items may be returned within 30 days of delivery.' },
    { title: 'Shipping', content: 'Orders ship within two business days, free above 50 EUR.' },
  ];
  const res = await call('POST', '/tenants', { name: 'Documents Ltd', plan: 'basic', admin: { email }, documents });
  expect(res.status).toBe(202);
  const { tenantId: raw, sagaId } = (await res.json()) as { tenantId: string; sagaId: string };
  const tenantId = parseTenantId(raw);
  namespaces.track(tenantId);
  await waitFor('the tenant active', async () => ((await (await call('GET', `/tenants/${tenantId}`)).json()) as { status: string }).status === 'active', 60_000, 100);

  // Knowledge stored them as it stores uploads, and indexed them.
  const docs = await waitFor('both initial documents indexed', async () => {
    const rows = await world.tenantDb.withTenant(tenantId, (tx) =>
      tx.db.selectFrom('kb_documents').select(['id', 'title', 'status', 'error', 'version', 'chunk_count', 'created_by', 'content_type', 'source', 'source_enc']).orderBy('title').execute(),
    );
    const failed = rows.find((r) => r.status === 'failed');
    if (failed) throw new Error(`${failed.title} failed: ${failed.error}`);
    return rows.length === 2 && rows.every((r) => r.status === 'indexed') ? rows : undefined;
  }, 90_000, 200);
  // Their sources sealed under the tenant's data key (nothing in the clear column).
  expect(docs.map((d) => d.source)).toEqual([null, null]);
  const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
  const opened = await Promise.all(docs.map(async (d) => (await cipher.decryptBytes(tenantId, KB_SOURCE_FIELD, Buffer.from(d.source_enc!))).toString('utf8')));
  expect(docs.map((d, i) => [d.title, d.version, d.created_by, d.content_type, opened[i]])).toEqual([
    ['Returns', 1, `saga:${sagaId}`, 'text/plain', documents[0]!.content],
    ['Shipping', 1, `saga:${sagaId}`, 'text/plain', documents[1]!.content],
  ]);
  expect(docs.every((d) => d.chunk_count >= 1)).toBe(true);
  expect(await vectors.countObjects(tenantId)).toBeGreaterThanOrEqual(2);

  // Provisioning asked (its text encrypted); knowledge stored and indexed: the facts are knowledge's.
  const events = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('outbox').select(['type', 'envelope']).where('type', 'like', 'knowledge.%').orderBy('seq').execute());
  const by = (type: string) => events.filter((e) => e.type === type).map((e) => (e.envelope as Envelope).producer);
  expect(by('knowledge.document-submitted')).toEqual(['provisioning', 'provisioning']);
  expect(by('knowledge.documents-stored')).toEqual(['knowledge', 'knowledge']);
  expect(by('knowledge.document-indexed')).toEqual(['knowledge', 'knowledge']);
  for (const e of events.filter((x) => x.type === 'knowledge.document-submitted')) expect(JSON.stringify(e.envelope)).not.toMatch(/returned within|ship within/);

  // The invitation, queued through the mail port and delivered by the relay.
  const eml = await waitFor('the invitation e-mail', async () => {
    try {
      return readdirSync(join(MAIL_DIR, tenantId)).map((f) => readFileSync(join(MAIL_DIR, tenantId, f), 'utf8')).find((m) => m.includes('X-HotDash-Kind: invitation'));
    } catch {
      return undefined;
    }
  }, 30_000, 100);
  expect(eml).toContain(`To: ${email}`);
  expect(eml).toContain('Subject: You are invited to Documents Ltd on HotDash');
  expect(eml).toMatch(/\/app\/invitation#\S+/);
});
