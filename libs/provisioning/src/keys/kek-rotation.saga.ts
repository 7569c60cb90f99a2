import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { KeyProblems } from '@hotdash/contracts';
import { readSetting } from '@hotdash/platform-config';
import { KekNotConfiguredError, KmsPort, rewrapBatch } from '@hotdash/platform-crypto';
import { ControlDatabase } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaDefinition, SagaEngine, SagaStep, StepPendingError } from '@hotdash/platform-jobs';
import { OpsActions } from '../shards.repository';
import { KekRotationsRepository } from './kek-rotations.repository';

export const KEK_ROTATION_SAGA = 'kek-rotation';
/** Keys re-wrapped per batch (one transaction, one run of the rewrap step) unless HOTDASH_KEY_ROTATION_BATCH says otherwise. */
export const DEFAULT_KEY_ROTATION_BATCH = 50;

/** The saga's input: the run's row (kek_rotations) has the same id as the saga. */
export type KekRotationInput = { actor: string; fromKekId: string | null; toKekId: string };

export interface KekRotationDeps {
  control: ControlDatabase;
  kms: KmsPort;
  runs: KekRotationsRepository;
  actions: OpsActions;
  /** Keys per batch. */
  batch: number;
}

/**
 * Rotation of the key-encryption key (docs/operations.md "Rotating the key-encryption key"):
 *  1. rewrap: one batch of live keys of the selection re-wrapped under the run's KEK and the run's
 *     counts advanced, in one control-plane transaction (durable progress: a killed process's job is
 *     taken over by another worker when its lock expires, and goes on with the keys still under an
 *     old KEK; nothing is counted twice, nothing re-wrapped twice). While a batch found keys, the
 *     step says "not yet" (StepPendingError, no try counted) and runs again at once; a batch that
 *     finds none completes it. A key under a KEK the KMS does not hold stops the run
 *     (kek-not-configured: put that master key back), as does a KMS whose current KEK is no longer
 *     the run's (kek-changed);
 *  2. finish: the run succeeded, its outcome in ops_actions.
 * A failed run records its code and error, and its outcome in ops_actions (hooks.onFailed). Nothing
 * is undone: every re-wrapped key is as readable as before.
 */
export function kekRotationSaga(deps: KekRotationDeps): SagaDefinition<KekRotationInput> {
  const rewrap: SagaStep<KekRotationInput> = {
    id: 'rewrap',
    description: 'the live data keys still under an old KEK re-wrapped under the run’s KEK, one batch per transaction with the run’s counts',
    async run(ctx) {
      const { fromKekId, toKekId } = ctx.input;
      if (deps.kms.currentKekId !== toKekId)
        throw new NonRetryableStepError(
          `this provisioning service's current key-encryption key is ${JSON.stringify(deps.kms.currentKekId)}, the run re-wraps under ${JSON.stringify(toKekId)}: give every service the same HOTDASH_KMS_MASTER_KEYS (the new key first), restart them, and run the rotation again`,
          KeyProblems.KEK_CHANGED,
        );
      let found: number;
      try {
        found = await deps.control.withControl(async (tx) => {
          const done = await rewrapBatch(tx, deps.kms, { toKekId, fromKekId }, deps.batch);
          const n = Object.values(done).reduce((a, b) => a + b, 0);
          if (n > 0 && !(await deps.runs.advance(tx.db, ctx.sagaId, done))) throw new NonRetryableStepError(`rotation ${ctx.sagaId} is no longer running`, KeyProblems.ROTATION_FAILED);
          return n;
        });
      } catch (err) {
        if (err instanceof KekNotConfiguredError) throw new NonRetryableStepError(err.message, KeyProblems.KEK_NOT_CONFIGURED);
        throw err;
      }
      if (found > 0) throw new StepPendingError(`${found} key(s) re-wrapped, looking for more`, 0);
      return { done: true };
    },
  };

  const finish: SagaStep<KekRotationInput> = {
    id: 'finish',
    description: 'the run recorded as succeeded, its outcome in ops_actions',
    async run(ctx) {
      await deps.control.withControl(async (tx) => {
        const run = await deps.runs.finish(tx.db, ctx.sagaId, 'succeeded');
        if (run) await deps.actions.record(tx.db, { actor: ctx.input.actor, action: 'keys.rotate', target: ctx.input.toKekId, outcome: 'done', detail: { run: ctx.sagaId, from: ctx.input.fromKekId, rewrapped: run.rewrapped } });
      });
      return { done: true };
    },
  };

  return {
    type: KEK_ROTATION_SAGA,
    steps: [rewrap, finish],
    hooks: {
      async onFailed(tx, saga, _step, reason) {
        const input = saga.input as KekRotationInput;
        const code = codeOf(reason);
        const run = await deps.runs.finish(tx.db, saga.id, 'failed', code, reason);
        await deps.actions.record(tx.db, { actor: input.actor, action: 'keys.rotate', target: input.toKekId, outcome: code, detail: { run: saga.id, from: input.fromKekId, rewrapped: run?.rewrapped ?? null, error: reason } });
      },
    },
  };
}

/** The problem code of a failure's text (the step's errors name their cause; anything else is a generic failure). */
function codeOf(reason: string): string {
  if (reason.includes('which this KMS does not hold')) return KeyProblems.KEK_NOT_CONFIGURED;
  if (reason.includes('current key-encryption key is')) return KeyProblems.KEK_CHANGED;
  return KeyProblems.ROTATION_FAILED;
}

/** Keys per batch from HOTDASH_KEY_ROTATION_BATCH. */
export const keyRotationBatch = (): number => readSetting('HOTDASH_KEY_ROTATION_BATCH') ?? DEFAULT_KEY_ROTATION_BATCH;

/** Registers the kek-rotation saga with the provisioning service's engine when the module starts (before the app starts the worker and resumes unfinished sagas). */
@Injectable()
export class KekRotationSagaRegistration implements OnModuleInit {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(KmsPort) private readonly kms: KmsPort,
    @Inject(KekRotationsRepository) private readonly runs: KekRotationsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  onModuleInit(): void {
    this.engine.register(kekRotationSaga({ control: this.control, kms: this.kms, runs: this.runs, actions: this.actions, batch: keyRotationBatch() }));
  }
}
