import { Inject, Injectable } from '@nestjs/common';
import { KeyProblems, startKeyRotationBody, type KeyRotationDryRun, type KeyRotationRun, type KeysStatus } from '@hotdash/contracts';
import { destroyedKeyCount, kekInUse, KmsPort, liveKeysPerKek } from '@hotdash/platform-crypto';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { OpsActions } from '../shards.repository';
import { KEK_ROTATION_SAGA, type KekRotationInput } from './kek-rotation.saga';
import { KekRotationsRepository, type KekRotationRow } from './kek-rotations.repository';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/**
 * The tenants' data keys for the ops team (docs/operations.md "Rotating the key-encryption key"):
 * how many live keys each KEK wraps, and rotations that re-wrap them under the KMS's current KEK (the
 * kek-rotation saga). Shapes and codes: libs/contracts/src/keys.api.ts.
 */
@Injectable()
export class KeyRotations {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(KmsPort) private readonly kms: KmsPort,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(KekRotationsRepository) private readonly runs: KekRotationsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  /** Live keys per KEK id, the current KEK, destroyed keys and the running rotation. */
  async status(): Promise<KeysStatus> {
    // A KEK rotated in the KMS itself (transit) is seen at once, not at the next cache refresh.
    await this.kms.refresh();
    const current = this.kms.currentKekId;
    const perKek = await liveKeysPerKek(this.control.db);
    if (!(current in perKek)) perKek[current] = 0;
    const running = await this.runs.running(this.control.db);
    const keks = Object.entries(perKek)
      .map(([kekId, keys]) => ({ kekId, keys, current: kekId === current }))
      .sort((a, b) => Number(b.current) - Number(a.current) || a.kekId.localeCompare(b.kekId));
    return {
      currentKekId: current,
      keks,
      notCurrent: keks.filter((k) => !k.current).reduce((a, k) => a + k.keys, 0),
      destroyed: await destroyedKeyCount(this.control.db),
      runningRotation: running?.id ?? null,
    };
  }

  /** A dry run's counts (the controller's 200), or a started run (202); follow it with `get`. */
  async start(body: unknown, actor: string): Promise<KeyRotationDryRun | KeyRotationRun> {
    const { fromKekId, dryRun } = parseInput(startKeyRotationBody, body ?? {});
    await this.kms.refresh();
    const toKekId = this.kms.currentKekId;
    if (fromKekId !== undefined) {
      if (fromKekId === toKekId)
        throw problem(422, KeyProblems.KEK_IS_CURRENT, 'KEK is the current one', `${fromKekId} is the current key-encryption key: its keys need no re-wrap. Put the new master key first in HOTDASH_KMS_MASTER_KEYS of every service and restart them before rotating.`);
      if (!(await kekInUse(this.control.db, fromKekId)))
        throw problem(422, KeyProblems.KEK_UNKNOWN, 'KEK unknown', `No data key was ever wrapped under key-encryption key ${fromKekId} (\`hotdash-ops keys status\` lists the KEK ids in use).`);
    }
    const selection = { toKekId, fromKekId: fromKekId ?? null };
    if (dryRun) {
      const perKek = await liveKeysPerKek(this.control.db, selection);
      const keks = Object.entries(perKek).map(([kekId, keys]) => ({ kekId, keys }));
      return { dryRun: true, toKekId, fromKekId: fromKekId ?? null, total: keks.reduce((a, k) => a + k.keys, 0), keks };
    }
    await this.refuseRunning(actor);
    const id = newId();
    const input: KekRotationInput = { actor, fromKekId: fromKekId ?? null, toKekId };
    const run = await this.control.withControl(async (tx) => {
      // Counted in the transaction that records the run (the run's keys are those found now, and any wrapped under an old KEK later).
      const perKek = await liveKeysPerKek(tx.db, selection);
      const inserted = await this.runs.insert(tx.db, { id, actor, fromKekId: fromKekId ?? null, toKekId, perKek });
      if (!inserted) return undefined;
      await this.engine.start(KEK_ROTATION_SAGA, input, { sagaId: id, tx });
      await this.actions.record(tx.db, { actor, action: 'keys.rotate', target: toKekId, outcome: 'started', detail: { run: id, from: fromKekId ?? null, keys: inserted.total, perKek } });
      return inserted;
    });
    if (!run) {
      // Another start won the unique index meanwhile.
      await this.refuseRunning(actor);
      throw problem(409, KeyProblems.ROTATION_RUNNING, 'Rotation already running', 'Another rotation started meanwhile: follow it (`hotdash-ops keys status`).');
    }
    await this.engine.kick(id);
    return this.view(run);
  }

  /** A run by id, with its progress. */
  async get(id: string): Promise<KeyRotationRun> {
    const run = await this.runs.byId(this.control.db, id);
    if (!run) throw notFound(`key rotation ${id}`);
    return this.view(run);
  }

  /** 409 kek-rotation-running (recorded as a refused ops action) while a rotation runs. */
  private async refuseRunning(actor: string): Promise<void> {
    const other = await this.runs.running(this.control.db);
    if (!other) return;
    await this.actions.record(this.control.db, { actor, action: 'keys.rotate', target: other.toKekId, outcome: KeyProblems.ROTATION_RUNNING, detail: { running: other.id } });
    throw problem(
      409,
      KeyProblems.ROTATION_RUNNING,
      'Rotation already running',
      `Key rotation ${other.id}, started at ${other.startedAt.toISOString()} by ${other.actor}, is still in progress: follow it (\`hotdash-ops keys rotation ${other.id}\`) and start another once it has finished.`,
    );
  }

  private async view(run: KekRotationRow): Promise<KeyRotationRun> {
    const left = await liveKeysPerKek(this.control.db, { toKekId: run.toKekId, fromKekId: run.fromKekId });
    const keks = Object.entries(run.perKek)
      .map(([kekId, p]) => ({ kekId, total: p.total, rewrapped: p.rewrapped }))
      .sort((a, b) => a.kekId.localeCompare(b.kekId));
    return {
      id: run.id,
      status: run.status,
      actor: run.actor,
      fromKekId: run.fromKekId,
      toKekId: run.toKekId,
      total: Math.max(run.total, keks.reduce((a, k) => a + k.total, 0)),
      rewrapped: run.rewrapped,
      remaining: Object.values(left).reduce((a, b) => a + b, 0),
      keks,
      code: run.code,
      error: run.error,
      startedAt: run.startedAt.toISOString(),
      updatedAt: run.updatedAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
    };
  }
}
