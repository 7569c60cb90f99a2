import type { Kysely } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { ControlDB, ControlTransaction } from '@hotdash/platform-db';
import { CryptoError, KmsUnknownKeyError } from './errors';
import { KmsPort, WrappedKey } from './kms';

/** Which live keys a rotation re-wraps: those not under `toKekId`, and with `fromKekId` only those under it. */
export interface RewrapSelection {
  toKekId: string;
  fromKekId?: string | null;
}

/** Live data keys per KEK id (destroyed keys are not counted: they have nothing left to wrap). */
export async function liveKeysPerKek(db: Kysely<ControlDB>, selection?: RewrapSelection): Promise<Record<string, number>> {
  let q = db
    .selectFrom('tenant_keys')
    .select(['kek_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('destroyed_at', 'is', null)
    .groupBy('kek_id')
    .orderBy('kek_id');
  if (selection) {
    q = q.where('kek_id', '<>', selection.toKekId);
    if (selection.fromKekId) q = q.where('kek_id', '=', selection.fromKekId);
  }
  const rows = await q.execute();
  return Object.fromEntries(rows.map((r) => [r.kek_id, Number(r.n)]));
}

/** Destroyed (crypto-shredded) data keys. */
export async function destroyedKeyCount(db: Kysely<ControlDB>): Promise<number> {
  const row = await db.selectFrom('tenant_keys').select((eb) => eb.fn.countAll<string>().as('n')).where('destroyed_at', 'is not', null).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Whether any data key, live or destroyed, was ever wrapped under the KEK (a KEK id the platform knows). */
export async function kekInUse(db: Kysely<ControlDB>, kekId: string): Promise<boolean> {
  return !!(await db.selectFrom('tenant_keys').select('tenant_id').where('kek_id', '=', kekId).limit(1).executeTakeFirst());
}

/**
 * A live data key wraps under a KEK this KMS does not hold: the rotation cannot read it. The old
 * master key was removed too early (or belongs to another environment).
 */
export class KekNotConfiguredError extends CryptoError {
  readonly code = 'kek-not-configured';
  constructor(
    readonly kekId: string,
    readonly tenantId: string,
  ) {
    super(
      `the data key of tenant ${tenantId} is wrapped under key-encryption key ${JSON.stringify(kekId)}, which this KMS does not hold: ` +
        `put that master key back in HOTDASH_KMS_MASTER_KEYS (after the current one) of every service, restart them, and run the rotation again`,
    );
    this.name = 'KekNotConfiguredError';
  }
}

/**
 * One batch of a KEK rotation, in the caller's control-plane transaction (so the caller records its
 * progress in the same commit): up to `limit` live keys of the selection, in tenant order, locked,
 * re-wrapped under the KMS's current KEK (which must be `toKekId`) by `kms.rewrap`: unwrapped and
 * wrapped again in memory and zeroed (LocalKms), or re-wrapped on the KMS's side without leaving it
 * (TransitKms). The data keys themselves, and so every token encrypted under them, are unchanged.
 * Destroyed keys are never selected. A key under a KEK the KMS does not hold throws
 * KekNotConfiguredError (nothing of the batch is kept: the caller's transaction rolls back); a
 * corrupted one KeyUnwrapFailedError. Returns the keys re-wrapped per KEK id they were
 * under (none: the selection is empty).
 */
export async function rewrapBatch(tx: ControlTransaction, kms: KmsPort, selection: RewrapSelection, limit: number): Promise<Record<string, number>> {
  if (kms.currentKekId !== selection.toKekId) throw new Error(`the KMS's current key-encryption key is ${JSON.stringify(kms.currentKekId)}, not ${JSON.stringify(selection.toKekId)}`);
  let q = tx.db
    .selectFrom('tenant_keys')
    .select(['tenant_id', 'kek_id', 'wrapped_key'])
    .where('destroyed_at', 'is', null)
    .where('kek_id', '<>', selection.toKekId)
    .orderBy('tenant_id')
    .limit(limit)
    .forUpdate();
  if (selection.fromKekId) q = q.where('kek_id', '=', selection.fromKekId);
  const rows = await q.execute();
  const done: Record<string, number> = {};
  for (const row of rows) {
    const tenantId = row.tenant_id as TenantId;
    let rewrapped: WrappedKey;
    try {
      rewrapped = await kms.rewrap(tenantId, { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped_key!) });
    } catch (err) {
      if (err instanceof KmsUnknownKeyError && err.kekId === row.kek_id) throw new KekNotConfiguredError(row.kek_id, tenantId);
      throw err;
    }
    // The row is locked: it is as read (a concurrent destroyKey waits for this commit, then shreds it).
    await tx.db.updateTable('tenant_keys').set({ kek_id: rewrapped.kekId, wrapped_key: rewrapped.wrapped }).where('tenant_id', '=', tenantId).where('destroyed_at', 'is', null).execute();
    done[row.kek_id] = (done[row.kek_id] ?? 0) + 1;
  }
  return done;
}
