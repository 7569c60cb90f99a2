import { Injectable, Logger } from '@nestjs/common';
import type { Kysely } from 'kysely';
import type { ShardKind, ShardRecord, ShardStatus } from '@hotdash/contracts';
import { newId, type ControlDB, type DbLocation } from '@hotdash/platform-db';

/** Columns of a shard the registry reads, by name (prepared statements never change shape when a column is added). */
const SHARD_COLUMNS = ['id', 'name', 'host', 'port', 'database', 'kind', 'status', 'region', 'created_at'] as const;

interface ShardRow {
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  kind: string;
  status: string;
  region: string;
  created_at: Date;
}

export const toShardRecord = (r: ShardRow): ShardRecord => ({
  id: r.id,
  name: r.name,
  host: r.host,
  port: r.port,
  database: r.database,
  kind: r.kind as ShardKind,
  status: r.status as ShardStatus,
  region: r.region,
  createdAt: r.created_at.toISOString(),
});

export const locationOf = (s: Pick<ShardRecord, 'host' | 'port' | 'database'>): DbLocation => ({ host: s.host, port: s.port, database: s.database });

/** The registry's statements on provisioning's control tables (shards, tenant_placements, tenants). */
@Injectable()
export class ShardsRepository {
  async list(db: Kysely<ControlDB>): Promise<ShardRecord[]> {
    return (await db.selectFrom('shards').select(SHARD_COLUMNS).orderBy('name').execute()).map(toShardRecord);
  }

  /** A shard by name; `lock` takes its row lock (FOR UPDATE: it also waits for placements in flight on it, whose foreign key holds a share lock). */
  async byName(db: Kysely<ControlDB>, name: string, lock = false): Promise<ShardRecord | undefined> {
    const q = db.selectFrom('shards').select(SHARD_COLUMNS).where('name', '=', name);
    const row = await (lock ? q.forUpdate() : q).executeTakeFirst();
    return row && toShardRecord(row);
  }

  /** Shards that have this name or this location. */
  async byNameOrLocation(db: Kysely<ControlDB>, name: string, at: DbLocation): Promise<ShardRecord[]> {
    const rows = await db
      .selectFrom('shards')
      .select(SHARD_COLUMNS)
      .where((eb) => eb.or([eb('name', '=', name), eb.and([eb('host', '=', at.host), eb('port', '=', at.port), eb('database', '=', at.database)])]))
      .orderBy('name')
      .execute();
    return rows.map(toShardRecord);
  }

  /** Inserts a shard as active (or, reserved for a dedicated-database run, as draining); undefined when its name or location was taken meanwhile. */
  async insertActive(db: Kysely<ControlDB>, s: Pick<ShardRecord, 'name' | 'host' | 'port' | 'database' | 'kind' | 'region'>, status: 'active' | 'draining' = 'active'): Promise<ShardRecord | undefined> {
    const row = await db
      .insertInto('shards')
      .values({ id: newId(), name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, region: s.region, status })
      .onConflict((oc) => oc.doNothing())
      .returning(SHARD_COLUMNS)
      .executeTakeFirst();
    return row && toShardRecord(row);
  }

  /** Sets a shard's status (the shards trigger notifies hotdash_shards: relays re-read the list). */
  async setStatus(db: Kysely<ControlDB>, id: string, status: ShardStatus): Promise<ShardRecord> {
    return toShardRecord(await db.updateTable('shards').set({ status }).where('id', '=', id).returning(SHARD_COLUMNS).executeTakeFirstOrThrow());
  }

  /** Tenants a shard holds: placements of tenants that are not offboarded (an offboarded tenant's rows are erased; its placement stays as a record). */
  async tenantsHeld(db: Kysely<ControlDB>, shardId: string): Promise<number> {
    const r = await db
      .selectFrom('tenant_placements as p')
      .innerJoin('tenants as t', 't.id', 'p.tenant_id')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('p.shard_id', '=', shardId)
      .where('t.status', '<>', 'offboarded')
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** tenantsHeld for every shard at once. */
  async tenantsHeldByShard(db: Kysely<ControlDB>): Promise<Map<string, number>> {
    const rows = await db
      .selectFrom('tenant_placements as p')
      .innerJoin('tenants as t', 't.id', 'p.tenant_id')
      .select((eb) => ['p.shard_id', eb.fn.countAll<string>().as('n')])
      .where('t.status', '<>', 'offboarded')
      .groupBy('p.shard_id')
      .execute();
    return new Map(rows.map((r) => [r.shard_id, Number(r.n)]));
  }
}

/** An ops action that belongs to no tenant (ops_actions, append-only for the services). */
export interface OpsActionEntry {
  /** `ops:<operator id>`, from the caller's token. */
  actor: string;
  /** shard.register, shard.drain, shard.activate, shard.retire, migrations.run, rebalance.run, tenant.move (a move, also in the tenant's audit log) */
  action: string;
  /** The shard's name, or `all` for every database. */
  target: string;
  /** done, unchanged, or the problem code of a refusal. */
  outcome: string;
  detail?: Record<string, unknown>;
}

/**
 * Records what the ops team did to the platform itself (ops_actions in the control database), and
 * logs it as one line. An ops action on a tenant goes to that tenant's audit log instead (the
 * gateway's access entries).
 */
@Injectable()
export class OpsActions {
  private readonly logger = new Logger('ops');

  async record(db: Kysely<ControlDB>, e: OpsActionEntry): Promise<void> {
    await db
      .insertInto('ops_actions')
      .values({ id: newId(), actor: e.actor, action: e.action, target: e.target, outcome: e.outcome, detail: JSON.stringify(e.detail ?? {}) })
      .execute();
    this.logger.log(JSON.stringify({ actor: e.actor, action: e.action, target: e.target, outcome: e.outcome }));
  }
}
