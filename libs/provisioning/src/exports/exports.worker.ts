import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import type { PlatformConfig } from '@hotdash/platform-config';
import { PLATFORM_CONFIG } from '@hotdash/platform-db';
import { inTenantJob, QueueName, queueOptions, type RedisClient, retryWhenStoresDown, TenantConcurrencyLimiter } from '@hotdash/platform-jobs';
import { observeJobs } from '@hotdash/platform-http';
import { EXPORTS_OPTIONS, EXPORTS_QUEUE, ExportsService, type ExportJob, type ExportsOptions } from './exports.service';

export const EXPORTS_REDIS = Symbol('EXPORTS_REDIS');

/**
 * Works the export queue in this process (BullMQ; each tenant at most `perTenant` exports at once
 * across every worker, DESIGN.md §5) and sweeps expired files every `sweepEveryMs`. A job whose
 * last attempt fails marks its run failed.
 */
@Injectable()
export class ExportsWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private worker: Worker<ExportJob> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly limiter: TenantConcurrencyLimiter;

  constructor(
    @Inject(ExportsService) private readonly exports: ExportsService,
    @Inject(PLATFORM_CONFIG) private readonly config: PlatformConfig,
    @Inject(EXPORTS_OPTIONS) private readonly options: ExportsOptions,
    @Inject(EXPORTS_REDIS) private readonly redis: RedisClient,
    @Inject(EXPORTS_QUEUE) private readonly queue: Queue<ExportJob>,
  ) {
    this.limiter = new TenantConcurrencyLimiter(redis, options.queueName, { cap: options.perTenant, leaseMs: 65 * 60_000 });
  }

  onApplicationBootstrap(): void {
    if (this.options.worker) this.start();
  }

  start(): void {
    if (this.worker) return;
    const name = this.options.queueName;
    this.worker = new Worker<ExportJob>(name, this.limiter.wrap(retryWhenStoresDown((job: Job<ExportJob>) => inTenantJob(QueueName.DATA_EXPORT, job.data, () => this.exports.run(job.data)))), {
      ...queueOptions(this.config, name),
      concurrency: this.options.concurrency,
      // An export may run for minutes: its lock is renewed meanwhile; a dead worker's job is taken over.
      lockDuration: 60_000,
    });
    observeJobs(this.worker);
    this.worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void this.exports.fail(job.data, err.message).catch(() => undefined);
    });
    this.worker.on('error', (err) => console.warn(`[exports] ${err.message}`));
    if (this.options.sweepEveryMs > 0) {
      this.sweeper = setInterval(() => void this.exports.sweep().catch((err: Error) => console.warn(`[exports] sweep: ${err.message}`)), this.options.sweepEveryMs);
      this.sweeper.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.worker?.close();
    this.worker = undefined;
    await this.queue.close();
    this.redis.disconnect();
  }
}
