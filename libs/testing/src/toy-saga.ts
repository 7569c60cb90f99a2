import Redis from 'ioredis';
import { Json, NonRetryableStepError, SagaDefinition, SagaStep } from '@hotdash/platform-jobs';

/** Input of the toy saga that the saga-engine specs run. */
export interface ToySagaInput {
  [key: string]: Json;
  /** Step index that fails (none when -1). */
  failAt: number;
  /** How many tries of that step fail; -1: every try, with a non-retryable error. */
  failTimes: number;
  sleepMs: number;
}

export const TOY_STEPS = 4;

/** Runs `fn` with `toy:<saga>:inside` saying what runs where, for steps that take time (sleepMs); cleared when it ends. */
async function inside<T>(redis: Redis, sagaId: string, what: string, sleepMs: number, fn: () => Promise<T>): Promise<T> {
  if (!sleepMs) return fn();
  const key = `toy:${sagaId}:inside`;
  await redis.set(key, `${process.pid} ${what}`, 'PX', 60_000);
  try {
    return await fn();
  } finally {
    await redis.del(key);
  }
}

// Applies a step's effect once, whatever happens: a step may run again after a crash.
const APPLY = `if redis.call('SET', KEYS[1], '1', 'NX') then redis.call('RPUSH', KEYS[2], ARGV[1]) return 1 end return 0`;
const UNDO = `if redis.call('DEL', KEYS[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[1]) return 1 end return 0`;

/**
 * A saga of TOY_STEPS steps whose effects are Redis list entries: `toy:<saga>:effects` gets each
 * step index when it is applied (once), `toy:<saga>:undone` when it is compensated (once), and
 * `toy:<saga>:runs` every execution, so specs can tell runs from effects. While a step or a
 * compensation runs, `toy:<saga>:inside` says which and in which process (`<pid> run <i>`,
 * `<pid> undo <i>`): a crash spec reads it after a kill to know the kill landed inside one.
 */
export function toySaga(redis: Redis, events: string[] = []): SagaDefinition<ToySagaInput> {
  const steps: SagaStep<ToySagaInput>[] = Array.from({ length: TOY_STEPS }, (_, i) => ({
    id: `step-${i}`,
    description: `applies toy effect ${i}`,
    async run(ctx) {
      await redis.rpush(`toy:${ctx.sagaId}:runs`, String(i));
      return inside(redis, ctx.sagaId, `run ${i}`, ctx.input.sleepMs, async () => {
        if (ctx.input.sleepMs) await new Promise((r) => setTimeout(r, ctx.input.sleepMs));
        if (ctx.input.failAt === i) {
          if (ctx.input.failTimes < 0) throw new NonRetryableStepError(`step ${i} fails for good`);
          if (ctx.attempt <= ctx.input.failTimes) throw new Error(`step ${i} fails on try ${ctx.attempt}`);
        }
        await redis.eval(APPLY, 2, `toy:${ctx.sagaId}:applied:${i}`, `toy:${ctx.sagaId}:effects`, String(i));
        return { step: i };
      });
    },
    async compensate(ctx) {
      await inside(redis, ctx.sagaId, `undo ${i}`, ctx.input.sleepMs, async () => {
        if (ctx.input.sleepMs) await new Promise((r) => setTimeout(r, ctx.input.sleepMs));
        await redis.eval(UNDO, 2, `toy:${ctx.sagaId}:applied:${i}`, `toy:${ctx.sagaId}:undone`, String(i));
      });
    },
  }));
  return {
    type: 'toy',
    steps,
    hooks: {
      startedEvents(saga) {
        events.push(`${saga.id} started`);
        return [];
      },
      stepCompletedEvents(saga, step) {
        events.push(`${saga.id} ${step.id} completed`);
        return [];
      },
      completedEvents(saga) {
        events.push(`${saga.id} completed`);
        return [];
      },
      async onFailed(_tx, saga, failedStep, reason) {
        events.push(`${saga.id} failed at ${failedStep}: ${reason}`);
      },
      async onCompensated(_tx, saga) {
        events.push(`${saga.id} compensated`);
      },
    },
  };
}
