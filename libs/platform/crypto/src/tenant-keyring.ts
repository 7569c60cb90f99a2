import { createHmac, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { ControlTransaction, Databases } from '@hotdash/platform-db';
import { KeyUnwrapFailedError, TenantKeyDestroyedError, TenantKeyMissingError } from './errors';
import { KmsPort } from './kms';

/** Where FieldCipher gets a tenant's data key from. */
export interface DataKeySource {
  /** The tenant's AES-256 data key; TenantKeyMissingError / TenantKeyDestroyedError otherwise. */
  dataKey(tenantId: TenantId): Promise<KeyObject>;
}

export interface TenantKeyringOptions {
  /** How long an unwrapped key (or a "destroyed" verdict) is kept in memory. Default 60 s. */
  cacheTtlMs?: number;
  /** Most keys kept in memory; the oldest entry goes first. Default 10,000. */
  maxCachedKeys?: number;
  /** Clock, for specs. */
  now?: () => number;
}

const DATA_KEY_BYTES = 32;

type CacheEntry = { kind: 'key'; key: KeyObject; expiresAt: number } | { kind: 'destroyed'; expiresAt: number };

interface KeyRow {
  kek_id: string;
  wrapped_key: Buffer | null;
  destroyed_at: Date | null;
}

/**
 * Tenant data keys (envelope encryption, DESIGN.md section 8). Each tenant has one AES-256 data key,
 * stored in the control plane's `tenant_keys` wrapped by the KMS with the tenant bound as AAD.
 * Unwrapped keys are cached in memory for a short TTL. `destroyKey` shreds the key: every value
 * encrypted under it becomes unreadable, here at once, and in other processes within one TTL (their
 * caches are not told).
 */
export class TenantKeyring implements DataKeySource {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<KeyObject>>();
  /** Bumped by destroyKey: a load that started before a destroy must not cache what it read. */
  private epoch = 0;
  private readonly ttlMs: number;
  private readonly maxCached: number;
  private readonly now: () => number;

  constructor(
    /** The control database the keys live in (FieldCipher makes its data subjects' keyring over it). */
    readonly dbs: Databases,
    private readonly kms: KmsPort,
    options: TenantKeyringOptions = {},
  ) {
    this.ttlMs = options.cacheTtlMs ?? 60_000;
    this.maxCached = options.maxCachedKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Creates the tenant's data key inside the caller's control-plane transaction (withControl).
   * Idempotent: when the tenant already has a key, live or destroyed, it is kept and false is
   * returned. A destroyed key is never replaced.
   */
  async createKey(tx: ControlTransaction, tenantId: TenantId): Promise<boolean> {
    const dataKey = randomBytes(DATA_KEY_BYTES);
    try {
      const { kekId, wrapped } = await this.kms.wrap(tenantId, dataKey);
      const inserted = Number(
        (await tx.db.insertInto('tenant_keys').values({ tenant_id: tenantId, kek_id: kekId, wrapped_key: wrapped }).onConflict((oc) => oc.column('tenant_id').doNothing()).executeTakeFirst())
          .numInsertedOrUpdatedRows ?? 0n,
      );
      // Not cached: the caller's transaction may still roll back, and a cached key that was never
      // stored would encrypt data nobody can read again.
      return inserted === 1;
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Crypto-shredding: forgets the tenant's wrapped key for good (wrapped_key null, destroyed_at set
   * once). Idempotent. A tenant that had no key yet gets a destroyed one, so that no later
   * createKey can mint a fresh key for an erased tenant.
   */
  async destroyKey(tenantId: TenantId): Promise<void> {
    await this.dbs
      .controlDb()
      .insertInto('tenant_keys')
      .values({ tenant_id: tenantId, kek_id: this.kms.currentKekId, wrapped_key: null, destroyed_at: sql`now()` })
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet((eb) => ({ wrapped_key: null, destroyed_at: eb.fn.coalesce('tenant_keys.destroyed_at', 'excluded.destroyed_at') })),
      )
      .execute();
    // After the write, not before: a load that read the old key meanwhile is overwritten here, and
    // one still in flight sees the epoch moved and caches nothing.
    this.epoch++;
    this.loading.delete(tenantId);
    this.remember(tenantId, { kind: 'destroyed', expiresAt: this.now() + this.ttlMs });
  }

  /** The tenant's data key, from the cache or unwrapped from tenant_keys. */
  async dataKey(tenantId: TenantId): Promise<KeyObject> {
    const hit = this.cache.get(tenantId);
    if (hit) {
      if (hit.expiresAt > this.now()) {
        if (hit.kind === 'destroyed') throw new TenantKeyDestroyedError(tenantId);
        return hit.key;
      }
      this.cache.delete(tenantId);
    }
    let pending = this.loading.get(tenantId);
    if (!pending) {
      const p = this.load(tenantId).finally(() => {
        if (this.loading.get(tenantId) === p) this.loading.delete(tenantId);
      });
      this.loading.set(tenantId, p);
      pending = p;
    }
    return pending;
  }

  /**
   * Re-wraps the tenant's data key with the KMS's current KEK (after a KEK rotation); the data key
   * itself, and so every token, is unchanged. Returns false when it was already current.
   */
  async rewrapKey(tenantId: TenantId): Promise<boolean> {
    const row = await this.read(tenantId);
    if (row.kek_id === this.kms.currentKekId) return false;
    const old = Buffer.from(row.wrapped_key!);
    const dataKey = await this.kms.unwrap(tenantId, { kekId: row.kek_id, wrapped: old });
    try {
      const { kekId, wrapped } = await this.kms.wrap(tenantId, dataKey);
      // Conditional on the row being as read, so a concurrent destroyKey is never undone.
      const { numUpdatedRows } = await this.dbs
        .controlDb()
        .updateTable('tenant_keys')
        .set({ kek_id: kekId, wrapped_key: wrapped })
        .where('tenant_id', '=', tenantId)
        .where('kek_id', '=', row.kek_id)
        .where('wrapped_key', '=', old)
        .where('destroyed_at', 'is', null)
        .executeTakeFirst();
      return numUpdatedRows === 1n;
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * A key check value of the tenant's data key (HMAC-SHA256 under the key of a fixed label and the
   * tenant id, hex): names the key without revealing anything of it, and stays the same when the
   * key is re-wrapped under another KEK. A tenant archive records it instead of any form of the key,
   * so restoring needs the tenant's live key (one that gives the same value), and destroying the key
   * makes every archive unreadable too. Read fresh (`fresh`: not from the cache) where a key
   * destroyed a moment ago by another process must already count as destroyed.
   * TenantKeyMissingError / TenantKeyDestroyedError as for dataKey.
   */
  async keyCheck(tenantId: TenantId, options: { fresh?: boolean } = {}): Promise<string> {
    if (options.fresh) this.invalidate(tenantId);
    return keyCheckOf(tenantId, await this.dataKey(tenantId));
  }

  /**
   * A pilot import (docs/pilot.md): the tenant's data key as another deployment holds it (`from`:
   * that deployment's keyring, on its own control database and its own KMS), stored here wrapped
   * under this KMS's current KEK, in the caller's control-plane transaction. The data key itself is
   * unchanged, so every token encrypted under it stays readable; it exists here only in memory and is
   * zeroed after wrapping. The same key imported again is a no-op; another live key, or a destroyed
   * one, is refused (KeyUnwrapFailedError / TenantKeyDestroyedError). Errors of `from` pass through
   * (KmsUnknownKeyError, KeyUnwrapFailedError: the keys given are not the ones it was wrapped with).
   * Returns the KEK it is wrapped with here and the key's check value (the same on both sides).
   */
  async importKey(tx: ControlTransaction, tenantId: TenantId, from: DataKeySource): Promise<{ kekId: string; check: string; imported: boolean }> {
    const key = await from.dataKey(tenantId);
    const check = keyCheckOf(tenantId, key);
    const raw = key.export();
    try {
      if (raw.length !== DATA_KEY_BYTES) throw new KeyUnwrapFailedError(tenantId);
      const { kekId, wrapped } = await this.kms.wrap(tenantId, raw);
      const inserted = await tx.db.insertInto('tenant_keys').values({ tenant_id: tenantId, kek_id: kekId, wrapped_key: wrapped }).onConflict((oc) => oc.column('tenant_id').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return { kekId, check, imported: true };
      // A key is there already: only the same key (a retried import) is accepted.
      const row = await tx.db.selectFrom('tenant_keys').select(['kek_id', 'wrapped_key', 'destroyed_at']).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      if (row.destroyed_at !== null || row.wrapped_key === null) throw new TenantKeyDestroyedError(tenantId);
      const existing = await this.kms.unwrap(tenantId, { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped_key) });
      try {
        if (!existing.equals(raw)) throw new KeyUnwrapFailedError(tenantId);
      } finally {
        existing.fill(0);
      }
      return { kekId: row.kek_id, check, imported: false };
    } finally {
      raw.fill(0);
    }
  }

  /** Drops the tenant's cached key (e.g. on a notice that another process destroyed it). */
  invalidate(tenantId: TenantId): void {
    this.epoch++;
    this.cache.delete(tenantId);
    this.loading.delete(tenantId);
  }

  private async load(tenantId: TenantId): Promise<KeyObject> {
    const epoch = this.epoch;
    let row: KeyRow;
    try {
      row = await this.read(tenantId);
    } catch (err) {
      if (err instanceof TenantKeyDestroyedError && epoch === this.epoch) this.remember(tenantId, { kind: 'destroyed', expiresAt: this.now() + this.ttlMs });
      throw err;
    }
    const raw = await this.kms.unwrap(tenantId, { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped_key!) });
    try {
      if (raw.length !== DATA_KEY_BYTES) throw new KeyUnwrapFailedError(tenantId);
      const key = createSecretKey(raw);
      if (epoch === this.epoch) this.remember(tenantId, { kind: 'key', key, expiresAt: this.now() + this.ttlMs });
      return key;
    } finally {
      raw.fill(0);
    }
  }

  /** The tenant's live key row; TenantKeyMissingError / TenantKeyDestroyedError otherwise. */
  private async read(tenantId: TenantId): Promise<KeyRow> {
    const row: KeyRow | undefined = await this.dbs.controlDb().selectFrom('tenant_keys').select(['kek_id', 'wrapped_key', 'destroyed_at']).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (!row) throw new TenantKeyMissingError(tenantId);
    if (row.destroyed_at !== null || row.wrapped_key === null) throw new TenantKeyDestroyedError(tenantId);
    return row;
  }

  private remember(tenantId: string, entry: CacheEntry): void {
    this.cache.delete(tenantId);
    this.cache.set(tenantId, entry);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
  }
}

/** The key check value of a data key (TenantKeyring.keyCheck): HMAC-SHA256 under the key of a fixed label and the tenant id, hex. */
export function keyCheckOf(tenantId: TenantId, key: KeyObject): string {
  return createHmac('sha256', key).update(`hotdash data key check v1\n${tenantId}`).digest('hex');
}
