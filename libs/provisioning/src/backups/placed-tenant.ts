import { sql, type Kysely } from 'kysely';
import { BackupProblems, type ShardRecord, type TenantId } from '@hotdash/contracts';
import { TenantKeyDestroyedError, TenantKeyMissingError, type TenantKeyring } from '@hotdash/platform-crypto';
import type { ControlDB, ControlDatabase, ShardInfo } from '@hotdash/platform-db';
import { notFound, ProblemException } from '@hotdash/platform-http';
import { toShardRecord } from '../shards.repository';

/** A tenant's control record with its placement and shard, as backups and restores need them. */
export interface PlacedTenant {
  id: TenantId;
  name: string;
  slug: string;
  plan: string;
  status: string;
  shard: ShardRecord;
  placementVersion: number;
}

/** Statuses whose data may be archived, restored or moved: the tenant exists and is not being created or erased. */
const SETTLED = ['active', 'suspended'];

/** The refusal of a tenant that is not active or suspended, or not placed, as backups and restores say it. */
const notArchivable = (tenantId: TenantId, why: string) =>
  new ProblemException(409, BackupProblems.INVALID_TENANT_STATUS, 'Tenant not archivable', `tenant ${tenantId} is ${why}; only an active or suspended tenant's data is backed up or restored`);

/**
 * The tenant, its placement and shard (404 unknown; 409 not active or suspended, or not placed, in
 * the words of `refuse`: backups' by default, the dedicate and share runs give their own).
 */
export async function placedTenant(control: ControlDatabase, tenantId: TenantId, refuse: (tenantId: TenantId, why: string) => ProblemException = notArchivable): Promise<PlacedTenant> {
  const row = await control.db
    .selectFrom('tenants as t')
    .leftJoin('tenant_placements as p', 'p.tenant_id', 't.id')
    .leftJoin('shards as s', 's.id', 'p.shard_id')
    .select(['t.id', 't.name', 't.slug', 't.plan_code', 't.status', 'p.version', 's.id as shard_id', 's.name as shard_name', 's.host', 's.port', 's.database', 's.kind', 's.status as shard_status', 's.region', 's.created_at'])
    .where('t.id', '=', tenantId)
    .executeTakeFirst();
  if (!row) throw notFound(`tenant ${tenantId}`);
  if (!SETTLED.includes(row.status) || row.shard_id === null) throw refuse(tenantId, `${row.status}${row.shard_id === null ? ' and not placed' : ''}`);
  const shard = toShardRecord({ id: row.shard_id, name: row.shard_name!, host: row.host!, port: row.port!, database: row.database!, kind: row.kind!, status: row.shard_status!, region: row.region!, created_at: row.created_at! });
  return { id: tenantId, name: row.name, slug: row.slug, plan: row.plan_code, status: row.status, shard, placementVersion: row.version ?? 1 };
}

/** A shard record as the shard router describes shards (what withTenantOnShard takes). */
export const shardInfoOf = (s: ShardRecord): ShardInfo => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, status: s.status });

/**
 * Moves the tenant's placement to `toShardId` if it is still on `fromShardId`, bumping its version
 * (the shard_tenants trigger counts both shards); the new version, or undefined when the placement
 * changed meanwhile.
 */
export async function movePlacement(db: Kysely<ControlDB>, tenantId: TenantId, fromShardId: string, toShardId: string): Promise<number | undefined> {
  const r = await db
    .updateTable('tenant_placements')
    .set((eb) => ({ shard_id: toShardId, version: eb('version', '+', 1), placed_at: sql<Date>`now()` }))
    .where('tenant_id', '=', tenantId)
    .where('shard_id', '=', fromShardId)
    .returning(['version'])
    .executeTakeFirst();
  return r?.version;
}

/** The tenant's key check value, read fresh (a key destroyed by another process counts at once): 422 when it was destroyed or is missing. */
export async function liveKeyCheck(keyring: TenantKeyring, tenantId: TenantId): Promise<string> {
  try {
    return await keyring.keyCheck(tenantId, { fresh: true });
  } catch (err) {
    if (err instanceof TenantKeyDestroyedError)
      throw new ProblemException(
        422,
        BackupProblems.KEY_DESTROYED,
        'Tenant key destroyed',
        `the data key of tenant ${tenantId} was destroyed (crypto-shredded): its encrypted data, in every archive too, can never be read again, so nothing of it is backed up or restored`,
      );
    if (err instanceof TenantKeyMissingError) throw new ProblemException(422, BackupProblems.KEY_MISSING, 'Tenant key missing', `tenant ${tenantId} has no data key`);
    throw err;
  }
}
