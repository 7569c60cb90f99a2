import { createCipheriv, createDecipheriv, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import { type ControlDB, type Databases, newId } from '@hotdash/platform-db';
import { CryptoError } from './errors';
import { SUBJECT_REF_PATTERN, SubjectRefs } from './subject-ref';
import type { DataKeySource } from './tenant-keyring';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A data subject key's record in the control plane (wrapped under the tenant's data key). */
export interface SubjectKeyRecord {
  id: string;
  tenant_id: string;
  subject_ref: string | null;
  wrapped_key: Buffer | null;
  created_at: Date;
  destroyed_at: Date | null;
}

/** A data subject's key was destroyed (the subject was erased): what was sealed under it is gone for good. */
export class SubjectKeyDestroyedError extends CryptoError {
  readonly code = 'subject-key-destroyed';
  constructor(
    readonly tenantId: string,
    readonly keyId: string,
  ) {
    super(`data subject key ${keyId} of tenant ${tenantId} was destroyed (the subject was erased)`);
    this.name = 'SubjectKeyDestroyedError';
  }
}

/** No such data subject key in the tenant (a token of another tenant, or a made-up key id). */
export class SubjectKeyMissingError extends CryptoError {
  readonly code = 'subject-key-missing';
  constructor(
    readonly tenantId: string,
    readonly keyId: string,
  ) {
    super(`tenant ${tenantId} has no data subject key ${keyId}`);
    this.name = 'SubjectKeyMissingError';
  }
}

/** Where FieldCipher gets data subjects' keys from (SubjectKeyring). */
export interface SubjectKeySource {
  /** The key a subject-sealed token names; SubjectKeyDestroyedError / SubjectKeyMissingError otherwise. */
  subjectKey(tenantId: TenantId, keyId: string): Promise<KeyObject>;
}

/** A data subject of a tenant as the support workflow seals its data: its reference and its live key's id. */
export interface DataSubject {
  subjectRef: string;
  keyId: string;
}

export interface SubjectKeyringOptions {
  /** How long an unwrapped key (or a "destroyed" verdict) is kept in memory. Default 60 s. */
  cacheTtlMs?: number;
  /** Most keys kept in memory; the oldest goes first. Default 10,000. */
  maxCachedKeys?: number;
}

type CacheEntry = { kind: 'key'; key: KeyObject; expiresAt: number } | { kind: 'destroyed'; expiresAt: number };

/**
 * Per-subject data keys (crypto-shredding of one data subject; docs/architecture.md "Data subjects
 * and erasure"). Each data subject of a tenant (a customer, by `subject_ref`) has its own AES-256
 * key in the control plane's `subject_keys`, wrapped by the tenant's data key (AES-256-GCM; the
 * tenant and the key id bound as additional data), so it never exists in the clear outside memory,
 * and destroying the tenant's key destroys it too. FieldCipher seals a subject's fields under it
 * (`s1.` tokens naming the key id). `destroy` forgets the wrapped key for good: every copy sealed
 * under it — shard rows, backups, outbox, Kafka topics, jobs — becomes unreadable, here at once and
 * in other processes within one cache TTL.
 */
export class SubjectKeyring implements SubjectKeySource {
  readonly refs: SubjectRefs;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly ttlMs: number;
  private readonly maxCached: number;

  constructor(
    private readonly dbs: Databases,
    private readonly tenantKeys: DataKeySource,
    options: SubjectKeyringOptions = {},
  ) {
    this.refs = new SubjectRefs(tenantKeys);
    this.ttlMs = options.cacheTtlMs ?? 60_000;
    this.maxCached = options.maxCachedKeys ?? 10_000;
  }

  /** The subject's blind index in the tenant (SubjectRefs.subjectRef). */
  subjectRef(tenantId: TenantId, email: string): Promise<string> {
    return this.refs.subjectRef(tenantId, email);
  }

  /**
   * The subject named by `email`, with its live key, created when it has none (a first ticket, or
   * the first one after an erasure: a subject erased once starts over with a new key). Created in
   * its own statement, not the caller's transaction: a key nothing was sealed under is harmless.
   */
  async subjectFor(tenantId: TenantId, email: string): Promise<DataSubject> {
    const subjectRef = await this.subjectRef(tenantId, email);
    return { subjectRef, keyId: await this.keyIdFor(tenantId, subjectRef) };
  }

  /** The id of the subject's live key, created when it has none. */
  async keyIdFor(tenantId: TenantId, subjectRef: string): Promise<string> {
    checkRef(subjectRef);
    const live = await this.live(tenantId, subjectRef);
    if (live) return live;
    const id = newId();
    const raw = randomBytes(KEY_BYTES);
    try {
      const wrapped = wrap(await this.tenantKeys.dataKey(tenantId), tenantId, id, raw);
      const inserted = await this.dbs
        .controlDb()
        .insertInto('subject_keys')
        .values({ id, tenant_id: tenantId, subject_ref: subjectRef, wrapped_key: wrapped })
        .onConflict((oc) => oc.columns(['tenant_id', 'subject_ref']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) {
        this.remember(tenantId, id, { kind: 'key', key: createSecretKey(raw), expiresAt: Date.now() + this.ttlMs });
        return id;
      }
    } finally {
      raw.fill(0);
    }
    // Another process created it meanwhile.
    const other = await this.live(tenantId, subjectRef);
    if (!other) throw new Error(`data subject key of tenant ${tenantId}: created concurrently and gone again`);
    return other;
  }

  /** The key `keyId` of the tenant, from the cache or unwrapped from subject_keys. */
  async subjectKey(tenantId: TenantId, keyId: string): Promise<KeyObject> {
    if (!UUID.test(keyId)) throw new SubjectKeyMissingError(tenantId, keyId);
    // Cached per tenant: a key id of another tenant is never answered from here.
    const hit = this.cache.get(`${tenantId}|${keyId}`);
    if (hit && hit.expiresAt > Date.now()) {
      if (hit.kind === 'destroyed') throw new SubjectKeyDestroyedError(tenantId, keyId);
      return hit.key;
    }
    const row = await this.dbs.controlDb().selectFrom('subject_keys').select(['wrapped_key', 'destroyed_at']).where('id', '=', keyId).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (!row) throw new SubjectKeyMissingError(tenantId, keyId);
    if (row.destroyed_at !== null || row.wrapped_key === null) {
      this.remember(tenantId, keyId, { kind: 'destroyed', expiresAt: Date.now() + this.ttlMs });
      throw new SubjectKeyDestroyedError(tenantId, keyId);
    }
    const raw = unwrap(await this.tenantKeys.dataKey(tenantId), tenantId, keyId, Buffer.from(row.wrapped_key));
    try {
      const key = createSecretKey(raw);
      this.remember(tenantId, keyId, { kind: 'key', key, expiresAt: Date.now() + this.ttlMs });
      return key;
    } finally {
      raw.fill(0);
    }
  }

  /**
   * Crypto-shredding of one data subject: every live key of the subject in the tenant loses its
   * wrapped key and its reference (a tombstone row stays, so its tokens answer "destroyed").
   * Idempotent; returns the ids of the keys destroyed by this call.
   */
  async destroy(tenantId: TenantId, subjectRef: string): Promise<string[]> {
    checkRef(subjectRef);
    const rows = await this.dbs
      .controlDb()
      .updateTable('subject_keys')
      .set({ wrapped_key: null, subject_ref: null, destroyed_at: sql<Date>`now()` })
      .where('tenant_id', '=', tenantId)
      .where('subject_ref', '=', subjectRef)
      .returning('id')
      .execute();
    for (const r of rows) this.remember(tenantId, r.id, { kind: 'destroyed', expiresAt: Date.now() + this.ttlMs });
    return rows.map((r) => r.id);
  }

  /**
   * A tenant's offboarding: every subject key record of the tenant deleted (in the caller's control
   * transaction). Their keys were wrapped by the tenant's data key, destroyed by then, so nothing
   * they sealed could be read anyway; the rows and their subject references go too. Returns how many.
   */
  static async eraseTenant(db: Kysely<ControlDB>, tenantId: TenantId): Promise<number> {
    const r = await db.deleteFrom('subject_keys').where('tenant_id', '=', tenantId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * A pilot import: the tenant's subject key records as the pilot holds them (read with the pilot's
   * import role), written here as they are (they are wrapped under the tenant's data key, which the
   * import carries). A record both sides have keeps the platform's unless the pilot's was destroyed
   * since (an erasure on the pilot is never undone by an import). Returns how many rows were read.
   */
  static async carryTenant(from: Kysely<ControlDB>, to: Kysely<ControlDB>, tenantId: TenantId): Promise<number> {
    const rows = await SubjectKeyring.readTenant(from, tenantId);
    await SubjectKeyring.writeTenant(to, rows);
    return rows.length;
  }

  /** The tenant's subject key records as they are (a pilot import; a tenant carried to another deployment, docs/operations.md "From embedded mode to the stack"). */
  static readTenant(db: Kysely<ControlDB>, tenantId: TenantId): Promise<SubjectKeyRecord[]> {
    return db.selectFrom('subject_keys').select(['id', 'tenant_id', 'subject_ref', 'wrapped_key', 'created_at', 'destroyed_at']).where('tenant_id', '=', tenantId).orderBy('id').execute();
  }

  /** Writes subject key records read at another deployment (readTenant) as they are; a record both have keeps this one's unless the other's was destroyed (an erasure is never undone). */
  static async writeTenant(db: Kysely<ControlDB>, rows: readonly SubjectKeyRecord[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      await db
        .insertInto('subject_keys')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet((eb) => ({ subject_ref: eb.ref('excluded.subject_ref'), wrapped_key: eb.ref('excluded.wrapped_key'), destroyed_at: eb.ref('excluded.destroyed_at') }))
            .where('excluded.destroyed_at', 'is not', null),
        )
        .execute();
    }
  }

  /** Whether the key is destroyed, read fresh (not from the cache). */
  async isDestroyed(tenantId: TenantId, keyId: string): Promise<boolean> {
    const row = await this.dbs.controlDb().selectFrom('subject_keys').select('destroyed_at').where('id', '=', keyId).where('tenant_id', '=', tenantId).executeTakeFirst();
    return row !== undefined && row.destroyed_at !== null;
  }

  /** Drops every cached key (specs, or a notice that another process destroyed one). */
  invalidate(): void {
    this.cache.clear();
  }

  private async live(tenantId: TenantId, subjectRef: string): Promise<string | undefined> {
    const row = await this.dbs.controlDb().selectFrom('subject_keys').select('id').where('tenant_id', '=', tenantId).where('subject_ref', '=', subjectRef).executeTakeFirst();
    return row?.id;
  }

  private remember(tenantId: string, keyId: string, entry: CacheEntry): void {
    const k = `${tenantId}|${keyId}`;
    this.cache.delete(k);
    this.cache.set(k, entry);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
  }
}

function checkRef(subjectRef: string): void {
  if (!SUBJECT_REF_PATTERN.test(subjectRef)) throw new TypeError('a subject reference is 64 hex characters (SubjectRefs.subjectRef)');
}

function wrapAad(tenantId: string, keyId: string): Buffer {
  return Buffer.from(`hotdash subject key v1|${tenantId}|${keyId}`, 'utf8');
}

function wrap(tenantKey: KeyObject, tenantId: string, keyId: string, raw: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', tenantKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(wrapAad(tenantId, keyId));
  return Buffer.concat([iv, cipher.update(raw), cipher.final(), cipher.getAuthTag()]);
}

function unwrap(tenantKey: KeyObject, tenantId: string, keyId: string, wrapped: Buffer): Buffer {
  if (wrapped.length !== IV_BYTES + KEY_BYTES + TAG_BYTES) throw new SubjectKeyMissingError(tenantId, keyId);
  const decipher = createDecipheriv('aes-256-gcm', tenantKey, wrapped.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(wrapAad(tenantId, keyId));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SubjectKeyMissingError(tenantId, keyId);
  }
}
