import { Inject, Injectable } from '@nestjs/common';
import { DatabaseMigrationOutcome, DatabaseMigrationStatus, MigrationErrorCode, MigrationRun, MigrationStatus, runMigrationsBody } from '@hotdash/contracts';
import { ControlDatabase, Databases, DatabasePlane, DbLocation, ShardInspector, ShardUnreachableError } from '@hotdash/platform-db';
import { parseInput } from '@hotdash/platform-http';
import { locationOf, OpsActions, ShardsRepository } from '../../shards.repository';
import { mapLimit } from '../list-shards/list-shards.handler';

/** Shards migrated at once: each migration holds one owner connection to its shard. */
const CONCURRENCY = 4;

interface Target {
  database: string;
  role: 'control' | 'shard';
  plane: DatabasePlane;
  location: DbLocation;
  target: string;
}

const failure = (code: MigrationErrorCode, err: unknown) => ({ code, message: (err as Error)?.message ?? String(err) });

/**
 * Migrations across the platform's databases, as the owner role with the project's runner: the
 * control database and every shard that is not retired. `status` says per database what is applied
 * and what this build would apply; `run` applies it (or, dry, only says what it would apply), each
 * database on its own: one that fails never stops the others, and every database gets its line.
 * After migrating, each shard goes through the catalogue guard again.
 */
@Injectable()
export class MigrateDatabasesHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(Databases) private readonly dbs: Databases,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  async status(): Promise<MigrationStatus> {
    const databases = await mapLimit(await this.targets(), CONCURRENCY, async (t): Promise<DatabaseMigrationStatus> => {
      const base = { database: t.database, role: t.role, target: t.target };
      try {
        const s = await this.inspector.migrationState(t.location, t.plane);
        const changed = s.changed.length ? failure('migration-changed', new Error(`applied migrations changed since: ${s.changed.join(', ')}; add a new migration instead`)) : null;
        return { ...base, applied: s.applied, latest: s.latest, pending: s.pending, error: changed };
      } catch (err) {
        return { ...base, applied: null, latest: null, pending: [], error: failure(err instanceof ShardUnreachableError ? 'database-unreachable' : 'inspection-failed', err) };
      }
    });
    return { databases };
  }

  async run(body: unknown, actor: string): Promise<MigrationRun> {
    const { dryRun } = parseInput(runMigrationsBody, body);
    const databases = await mapLimit(await this.targets(), CONCURRENCY, (t) => (dryRun ? this.dryRunOne(t) : this.migrateOne(t)));
    const ok = databases.every((d) => d.outcome !== 'failed');
    if (!dryRun)
      await this.actions.record(this.control.db, {
        actor,
        action: 'migrations.run',
        target: 'all',
        outcome: ok ? 'done' : 'failed',
        detail: { databases: databases.map((d) => ({ database: d.database, outcome: d.outcome, applied: d.applied, error: d.error?.code ?? null })) },
      });
    return { dryRun, ok, databases };
  }

  /** The control database first, then every shard that is not retired, by name. */
  private async targets(): Promise<Target[]> {
    const control = this.dbs.controlLocation;
    const shards = (await this.shards.list(this.control.db)).filter((s) => s.status !== 'retired');
    return [
      { database: 'control', role: 'control', plane: 'control', location: control, target: targetOf(control) },
      ...shards.map((s): Target => ({ database: s.name, role: 'shard', plane: 'tenant', location: locationOf(s), target: targetOf(locationOf(s)) })),
    ];
  }

  private async dryRunOne(t: Target): Promise<DatabaseMigrationOutcome> {
    const base = { database: t.database, role: t.role, target: t.target };
    try {
      const s = await this.inspector.migrationState(t.location, t.plane);
      if (s.changed.length)
        return { ...base, outcome: 'failed', applied: [], alreadyApplied: s.applied, error: failure('migration-changed', new Error(`applied migrations changed since: ${s.changed.join(', ')}; add a new migration instead`)) };
      return { ...base, outcome: s.pending.length ? 'would-migrate' : 'up-to-date', applied: s.pending, alreadyApplied: s.applied, error: null };
    } catch (err) {
      return { ...base, outcome: 'failed', applied: [], alreadyApplied: 0, error: failure(err instanceof ShardUnreachableError ? 'database-unreachable' : 'inspection-failed', err) };
    }
  }

  private async migrateOne(t: Target): Promise<DatabaseMigrationOutcome> {
    const base = { database: t.database, role: t.role, target: t.target };
    try {
      // The runner's own connection has no connect timeout: an unreachable server is found here first, in seconds.
      await this.inspector.reachable(t.location);
    } catch (err) {
      return { ...base, outcome: 'failed', applied: [], alreadyApplied: 0, error: failure('database-unreachable', err) };
    }
    const report = await this.inspector.migrate(t.location, t.plane).catch((err: Error) => ({ target: t.target, applied: [] as string[], alreadyApplied: 0, error: err.message }));
    if (report.error) return { ...base, outcome: 'failed', applied: report.applied, alreadyApplied: report.alreadyApplied, error: failure(/was changed after it was applied/.test(report.error) ? 'migration-changed' : 'migration-failed', new Error(report.error)) };
    const outcome = { ...base, outcome: report.applied.length ? ('migrated' as const) : ('up-to-date' as const), applied: report.applied, alreadyApplied: report.alreadyApplied, error: null };
    if (t.plane !== 'tenant') return outcome;
    try {
      const violations = await this.inspector.catalogue(t.location);
      if (violations.length)
        return { ...outcome, outcome: 'failed', error: failure('catalogue-mismatch', new Error(violations.slice(0, 5).map((v) => `${v.table}: ${v.problem}`).join('; ') + (violations.length > 5 ? ` (and ${violations.length - 5} more)` : ''))) };
    } catch (err) {
      return { ...outcome, outcome: 'failed', error: failure('inspection-failed', err) };
    }
    return outcome;
  }
}

const targetOf = (l: DbLocation) => `${l.host}:${l.port}/${l.database}`;
