// The provisioning saga worker in a process of its own, for crash specs.
// HOTDASH_SAGA_QUEUE: queue to work. Per saga, Redis key `crash-point:<sagaId>` = "<stepId>" or
// "compensate:<stepId>" SIGKILLs this process right after that step (or its compensation) did its
// work and before the engine recorded it, once per saga (a Redis marker remembers); `fail-step:<sagaId>`
// makes that step fail for good.
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { kmsFromEnv } from '@hotdash/platform-crypto';
import { Databases, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { provisioningDeps, provisioningSaga } from '@hotdash/provisioning';

async function main(): Promise<void> {
  const config = loadConfig();
  const redis = new Redis({ host: config.redis.host, port: config.redis.port });
  const dbs = new Databases(config);
  const router = new ShardRouter(dbs);
  const def = provisioningSaga(provisioningDeps(dbs, config, router, new TenantDatabase(dbs, router), await kmsFromEnv()));
  const crashOnce = async (sagaId: string, point: string): Promise<void> => {
    if ((await redis.get(`crash-point:${sagaId}`)) !== point) return;
    if (await redis.set(`crash-marker:${sagaId}`, '1', 'EX', 3600, 'NX')) process.kill(process.pid, 'SIGKILL');
  };
  def.steps = def.steps.map((s) => ({
    ...s,
    async run(ctx) {
      if ((await redis.get(`fail-step:${ctx.sagaId}`)) === s.id) throw new NonRetryableStepError(`injected failure of ${s.id}`);
      const out = await s.run(ctx);
      await crashOnce(ctx.sagaId, s.id);
      return out;
    },
    compensate: s.compensate
      ? async (ctx) => {
          await s.compensate!(ctx);
          await crashOnce(ctx.sagaId, `compensate:${s.id}`);
        }
      : undefined,
  }));
  const engine = new SagaEngine(dbs, config, { queueName: process.env.HOTDASH_SAGA_QUEUE, backoffMs: 50, lockDurationMs: 2_000, stalledIntervalMs: 1_000 });
  engine.register(def);
  engine.startWorker();
  console.log(`provisioning worker started, resumed ${await engine.resume()}`);
}

void main();
