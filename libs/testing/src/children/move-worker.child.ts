// The tenant-move saga's worker in a process of its own, for the crash drills.
// HOTDASH_SAGA_QUEUE: queue to work. Per saga, Redis key `move-kill:<sagaId>` = a checkpoint of the
// saga (initial-copy, catch-up, cut-over, cut-over:paused, cut-over:queues-moved, cut-over:decided,
// cut-over:target-open, drop-replication, cleanup-source) SIGKILLs this process when a step reaches
// it, once per saga (a Redis marker remembers); `move-fail:<sagaId>` = a checkpoint makes the step
// fail there for good (the saga rolls back, or, after the decision, stops for ops).
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { ControlDatabase, Databases, ShardRouter, TenantDatabase, TenantMover } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { tenantMoveSaga } from '@hotdash/provisioning';

async function main(): Promise<void> {
  const config = loadConfig();
  const redis = new Redis({ host: config.redis.host, port: config.redis.port });
  const dbs = new Databases(config);
  const router = new ShardRouter(dbs);
  let sagaId = '';
  const def = tenantMoveSaga({
    mover: new TenantMover(config),
    control: new ControlDatabase(dbs),
    tenantDb: new TenantDatabase(dbs, router),
    router,
    async checkpoint(point) {
      if ((await redis.get(`move-fail:${sagaId}`)) === point) throw new NonRetryableStepError(`injected failure at ${point}`);
      if ((await redis.get(`move-kill:${sagaId}`)) !== point) return;
      if (await redis.set(`move-killed:${sagaId}`, point, 'EX', 3600, 'NX')) {
        console.log(`SIGKILL at ${point}`);
        process.kill(process.pid, 'SIGKILL');
      }
    },
  });
  // The saga's id, for the checkpoint (one move at a time per worker in the drills).
  def.steps = def.steps.map((s) => ({
    ...s,
    run: (ctx) => ((sagaId = ctx.sagaId), s.run(ctx)),
    compensate: s.compensate && ((ctx) => ((sagaId = ctx.sagaId), s.compensate!(ctx))),
  }));
  const engine = new SagaEngine(dbs, config, { queueName: process.env.HOTDASH_SAGA_QUEUE, backoffMs: 50, lockDurationMs: 2_000, stalledIntervalMs: 1_000 });
  engine.register(def);
  engine.startWorker();
  console.log(`move worker started, resumed ${await engine.resume()}`);
}

void main();
