import { Inject, Injectable } from '@nestjs/common';
import { DedicatedProblems, MoveProblems, parseTenantId, type DedicatedRun, type TenantId } from '@hotdash/contracts';
import { ControlDatabase, type TenantMove } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, ProblemException } from '@hotdash/platform-http';
import { TenantArchiveRunsRepository } from '../backups/tenant-archive-runs.repository';
import { placedTenant, type PlacedTenant } from '../backups/placed-tenant';
import { TENANT_MOVE_SAGA, tenantMoveSaga } from '../moves/tenant-move.saga';
import { MoveTenantHandler, statusOf, stepViews } from '../use-cases/move-tenant/move-tenant.handler';
import { TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA, tenantDedicateSaga, tenantShareSaga, type DedicateInput, type ShareInput } from './dedicated.sagas';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/** Statuses whose tenant may be moved (as a move's: it exists and is not being created or erased). */

/** The steps of the sagas and of a move, for dry runs (definitions built without dependencies: only ids and descriptions are read). */
const stepsOf = (def: { steps: { id: string; description: string }[] }) => def.steps.map((s) => ({ id: s.id, description: s.description }));
export const DEDICATE_STEPS = stepsOf(tenantDedicateSaga({} as Parameters<typeof tenantDedicateSaga>[0]));
export const SHARE_STEPS = stepsOf(tenantShareSaga({} as Parameters<typeof tenantShareSaga>[0]));
export const MOVE_STEPS = stepsOf(tenantMoveSaga({} as Parameters<typeof tenantMoveSaga>[0]));


/**
 * What the dedicate and share use cases share: the tenant as placed, the refusal of a tenant that
 * is being moved, the mover's checks as problems, and a run as the API shows it.
 */
@Injectable()
export class DedicatedRuns {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(TenantArchiveRunsRepository) private readonly archiveRuns: TenantArchiveRunsRepository,
    @Inject(MoveTenantHandler) private readonly moves: MoveTenantHandler,
  ) {}

  /** 404 for an unknown tenant, 409 for one that is not active or suspended or not placed. */
  placedTenant(tenantId: TenantId): Promise<PlacedTenant> {
    return placedTenant(this.control, tenantId, (id, why) => problem(409, MoveProblems.INVALID_TENANT_STATUS, 'Tenant not movable', `tenant ${id} is ${why}; only an active or suspended tenant is moved`));
  }

  /** 409 while a dedicate or share run, a move, a backup or a restore of the tenant runs. */
  async refuseRunning(tenantId: TenantId): Promise<void> {
    for (const type of [TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA]) {
      const run = await this.running(type, tenantId);
      if (run)
        throw problem(
          409,
          DedicatedProblems.RUN_IN_PROGRESS,
          'Dedicate or share run in progress',
          `a ${type === TENANT_DEDICATE_SAGA ? 'dedicate' : 'share'} run of tenant ${tenantId} is in progress (run ${run}): follow it (\`hotdash-ops dedicated watch ${tenantId} ${run}\`)`,
        );
    }
    const move = await this.running(TENANT_MOVE_SAGA, tenantId);
    if (move) throw problem(409, MoveProblems.IN_PROGRESS, 'Move in progress', `tenant ${tenantId} is being moved (run ${move}): follow it (\`hotdash-ops moves watch ${tenantId} ${move}\`)`);
    const archive = await this.archiveRuns.running(this.control.db, tenantId);
    if (archive) throw problem(409, MoveProblems.ARCHIVE_RUN_IN_PROGRESS, 'Backup or restore in progress', `a ${archive.kind} of tenant ${tenantId} is running (run ${archive.id}): start this once it finished`);
  }

  /** The id of the tenant's latest saga of the type when it is still running (or undoing). */
  async running(type: string, tenantId: TenantId): Promise<string | undefined> {
    const latest = await this.engine.latestOf(type, tenantId);
    const status = latest ? (await this.engine.status(latest))?.status : undefined;
    return status === 'running' || status === 'compensating' ? latest : undefined;
  }

  /** The mover's checks of a move between the two shards, answered as a move answers them. */
  preflight(m: Pick<TenantMove, 'tenantId' | 'source' | 'target'>): Promise<void> {
    return this.moves.preflight(m);
  }

  /** A dedicate or share run of the tenant (404 for another tenant's or an unknown run). */
  async view(tenantIdRaw: string, runId: string): Promise<DedicatedRun> {
    const tenantId = parseTenantId(tenantIdRaw);
    const saga = await this.engine.status(runId);
    if (!saga || (saga.type !== TENANT_DEDICATE_SAGA && saga.type !== TENANT_SHARE_SAGA) || saga.tenantId !== tenantId) throw notFound(`dedicate or share run ${runId} of tenant ${tenantId}`);
    const status = statusOf(saga);
    const phase = status === 'succeeded' || status === 'rolled-back' ? null : (saga.failedStep ?? saga.steps.find((s) => s.status === 'running' || s.status === 'compensating')?.id ?? null);
    const common = {
      id: saga.id,
      tenantId,
      status,
      phase,
      steps: stepViews(saga),
      error: saga.lastError,
      startedAt: saga.createdAt,
      finishedAt: saga.finishedAt,
    };
    const move = await this.moveOf(tenantId, (saga.input as { moveId: string }).moveId);
    if (saga.type === TENANT_DEDICATE_SAGA) {
      const input = saga.input as DedicateInput;
      const t = input.target;
      return { ...common, kind: 'dedicate', actor: input.actor, source: input.source, target: { shard: t.shard, host: t.host, port: t.port, database: t.database, region: t.region, kind: 'dedicated', mode: input.mode }, keep: null, move };
    }
    const input = saga.input as ShareInput;
    const t = input.target;
    return { ...common, kind: 'share', actor: input.actor, source: input.source.name, target: { shard: t.name, host: t.host, port: t.port, database: t.database, region: input.region, kind: 'shared', mode: null }, keep: input.keep, move };
  }

  private async moveOf(tenantId: TenantId, moveId: string): Promise<DedicatedRun['move']> {
    if (!(await this.engine.status(moveId))) return null;
    const m = await this.moves.run(tenantId, moveId);
    return { id: m.id, status: m.status, phase: m.phase, decided: m.decided, progress: m.progress };
  }
}
