import { Inject, Injectable } from '@nestjs/common';
import { RegisterShardBody, registerShardBody, ShardProblems, ShardRecord, ShardRegistration } from '@hotdash/contracts';
import { ControlDatabase, ShardAccessFailure, ShardInspector } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { locationOf, OpsActions, ShardsRepository } from '../../shards.repository';

const ACCESS_PROBLEMS: Record<ShardAccessFailure['check'], [string, string]> = {
  unreachable: [ShardProblems.UNREACHABLE, 'Shard unreachable'],
  'role-bypasses-rls': [ShardProblems.ROLE_BYPASSES_RLS, 'Shard role bypasses row-level security'],
  'not-prepared': [ShardProblems.NOT_PREPARED, 'Shard not prepared'],
};

const sameRegistration = (s: ShardRecord, b: RegisterShardBody) =>
  s.name === b.name && s.host === b.host && s.port === b.port && s.database === b.database && s.kind === b.kind && s.region === b.region;

/**
 * Registers a database as a shard: it must be reachable as the owner, application and relay roles,
 * the service roles must not be able to bypass row-level security, it is migrated to this build's
 * tenant schema and passes the catalogue guard; only then is it recorded as active (its insert
 * NOTIFYs hotdash_shards, and every relay starts relaying its outbox). Any refusal leaves the
 * control plane as it was. The same registration again checks and migrates again and changes
 * nothing else (a draining shard stays draining); a retired shard registered again with the same
 * details comes back as active.
 */
@Injectable()
export class RegisterShardHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  /**
   * `reserve` (the dedicated-database runs): a new shard, or a retired one registered again, is
   * recorded as draining instead of active, in the same statement, so that the placement policy
   * never hands it to a sign-up before the run has moved its tenant onto it (the run activates it).
   */
  async execute(body: unknown, actor: string, options: { reserve?: boolean } = {}): Promise<ShardRegistration> {
    const input = parseInput(registerShardBody, body);
    const location = locationOf(input);
    const detail = { host: input.host, port: input.port, database: input.database, kind: input.kind, region: input.region };
    try {
      this.refuseConflicts(await this.shards.byNameOrLocation(this.control.db, input.name, location), input);

      const access = await this.inspector.checkAccess(location);
      if (access) {
        const [code, title] = ACCESS_PROBLEMS[access.check];
        throw new ProblemException(422, code, title, `${input.host}:${input.port}/${input.database}: ${access.message}. Nothing was registered.`);
      }
      const migrated = await this.inspector.migrate(location, 'tenant');
      if (migrated.error)
        throw new ProblemException(
          422,
          ShardProblems.MIGRATION_FAILED,
          'Shard migration failed',
          `${migrated.error}. Nothing was registered${migrated.applied.length ? `; the migrations applied before the failure (${migrated.applied.join(', ')}) stay applied on the database` : ''}.`,
        );
      const violations = await this.inspector.catalogue(location);
      if (violations.length)
        throw new ProblemException(
          422,
          ShardProblems.CATALOGUE_MISMATCH,
          'Shard catalogue breaks tenant isolation',
          `The catalogue guard found ${violations.length} problem(s) on ${input.host}:${input.port}/${input.database} after migrating it; nothing was registered. Fix them on the database, then register again.`,
          violations.map((v) => ({ path: v.table, message: v.problem })),
        );

      const migrations = { applied: migrated.applied, alreadyApplied: migrated.alreadyApplied };
      return await this.control.withControl(async (tx) => {
        const existing = await this.shards.byName(tx.db, input.name, true);
        let result: ShardRegistration;
        if (!existing) {
          const inserted = await this.shards.insertActive(tx.db, input, options.reserve ? 'draining' : 'active');
          if (inserted) result = { shard: inserted, outcome: 'registered', migrations };
          else {
            // Registered by a concurrent call meanwhile: the same registration is this one's answer.
            const now = await this.shards.byNameOrLocation(tx.db, input.name, location);
            this.refuseConflicts(now, input);
            result = { shard: now[0]!, outcome: 'unchanged', migrations };
          }
        } else {
          this.refuseConflicts([existing], input);
          result = existing.status === 'retired' ? { shard: await this.shards.setStatus(tx.db, existing.id, options.reserve ? 'draining' : 'active'), outcome: 'reregistered', migrations } : { shard: existing, outcome: 'unchanged', migrations };
        }
        await this.actions.record(tx.db, {
          actor,
          action: 'shard.register',
          target: input.name,
          outcome: result.outcome === 'unchanged' ? 'unchanged' : 'done',
          detail: { ...detail, outcome: result.outcome, applied: migrated.applied },
        });
        return result;
      });
    } catch (err) {
      if (err instanceof ProblemException) await this.actions.record(this.control.db, { actor, action: 'shard.register', target: input.name, outcome: err.code, detail: { ...detail, reason: err.detail } });
      throw err;
    }
  }

  /** 409 when the name or the location is registered with other details (a shard's location, kind and region are not changed by registering). */
  private refuseConflicts(found: ShardRecord[], input: RegisterShardBody): void {
    for (const s of found) {
      if (sameRegistration(s, input)) continue;
      const detail =
        s.name === input.name
          ? `Shard ${s.name} is registered as ${s.kind} in region ${s.region} at ${s.host}:${s.port}/${s.database}; a registration names the same details, or another name.`
          : `${s.host}:${s.port}/${s.database} is registered as shard ${s.name}; a database is one shard.`;
      throw new ProblemException(409, ShardProblems.EXISTS, 'Shard exists', detail);
    }
  }
}
