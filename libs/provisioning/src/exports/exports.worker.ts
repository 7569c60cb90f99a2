import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { PlatformConfig } from '@hotdash/platform-config';
import { PLATFORM_CONFIG } from '@hotdash/platform-db';
import { type ClosableTenantSlots, inTenantJob, type JobQueue, type JobsPort, type JobWorker, QueueName, retryLaterWhenStoresDown, tenantSlotsFor } from '@hotdash/platform-jobs';
import { jobOutcomeMetrics } from '@hotdash/platform-http';
import { EXPORTS_OPTIONS, EXPORTS_QUEUE, ExportsService, type ExportJob, type ExportsOptions } from './exports.service';

export const EXPORTS_JOBS = Symbol('EXPORTS_JOBS');

/**
 * Works the export queue in this process (the jobs port: BullMQ or the embedded runner; each tenant at most `perTenant` exports at once
 * across every worker, DESIGN.md §5) and sweeps expired files every `sweepEveryMs`. A job whose
 * last attempt fails marks its run failed.
 */
@Injectable()
export class ExportsWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private worker: JobWorker | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Per-tenant caps (Redis on the stack, this process's counts in embedded mode). */
  readonly slots: ClosableTenantSlots;

  constructor(
    @Inject(ExportsService) private readonly exports: ExportsService,
    @Inject(PLATFORM_CONFIG) private readonly config: PlatformConfig,
    @Inject(EXPORTS_OPTIONS) private readonly options: ExportsOptions,
    @Inject(EXPORTS_JOBS) private readonly jobs: JobsPort,
    @Inject(EXPORTS_QUEUE) private readonly queue: JobQueue<ExportJob>,
  ) {
    this.slots = tenantSlotsFor(config, jobs, options.queueName, { cap: options.perTenant, leaseMs: 65 * 60_000 });
  }

  onApplicationBootstrap(): void {
    if (this.options.worker) this.start();
  }

  start(): void {
    if (this.worker) return;
    const name = this.options.queueName;
    this.worker = this.jobs.worker<ExportJob, unknown>(name, this.slots.wrapJob(retryLaterWhenStoresDown((job) => inTenantJob(QueueName.DATA_EXPORT, job.data, () => this.exports.run(job.data)))), {
      concurrency: this.options.concurrency,
      // An export may run for minutes: its lock is renewed meanwhile; a dead worker's job is taken over.
      lockDurationMs: 60_000,
      onOutcome: jobOutcomeMetrics((o) => {
        if (o.outcome === 'failed' && o.final) void this.exports.fail(o.job.data, o.error?.message ?? 'the export failed').catch(() => undefined);
      }),
      onError: (err) => console.warn(`[exports] ${err.message}`),
    });
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
    await this.slots.close();
    await this.jobs.close();
  }
}
