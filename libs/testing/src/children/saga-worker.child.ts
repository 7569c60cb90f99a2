// A saga worker in a process of its own, for crash specs: runs the toy saga until killed.
// HOTDASH_SAGA_QUEUE: the queue to work. On start it resumes every unfinished saga.
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { Databases } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { toySaga } from '../toy-saga';

async function main(): Promise<void> {
  const config = loadConfig();
  const redis = new Redis({ host: config.redis.host, port: config.redis.port });
  const engine = new SagaEngine(new Databases(config), config, {
    queueName: process.env.HOTDASH_SAGA_QUEUE,
    backoffMs: 50,
    lockDurationMs: 2_000,
    stalledIntervalMs: 1_000,
  });
  engine.register(toySaga(redis));
  engine.startWorker();
  const resumed = await engine.resume();
  console.log(`saga worker started, resumed ${resumed}`);
}

void main();
