import { dirname, join } from 'node:path';
import { DynamicModule, Module, type Provider } from '@nestjs/common';
import { Queue } from 'bullmq';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { cryptoProviders, FieldCipher, TenantKeyring } from '@hotdash/platform-crypto';
import { PLATFORM_CONFIG, TenantDatabase } from '@hotdash/platform-db';
import { observeQueueDepth, readinessProbe } from '@hotdash/platform-http';
import { createRedis, QueueName, queueOptions, redisProbe } from '@hotdash/platform-jobs';
import { ExportRunsRepository } from './export-runs.repository';
import { ExportStore } from './export-store';
import { ExportsController } from './exports.controller';
import { EXPORTS_OPTIONS, EXPORTS_QUEUE, ExportsService, type ExportsOptions } from './exports.service';
import { EXPORTS_REDIS, ExportsWorker } from './exports.worker';
import { SUBJECT_EXPORT_SOURCE, type SubjectExportSource } from './subject-export-source';

/** The export store's directory by default: HOTDASH_EXPORT_DIR, else `exports` beside the backup directory. */
export function defaultExportDir(config: PlatformConfig): string {
  return readSetting('HOTDASH_EXPORT_DIR') ?? join(dirname(config.backup.dir), 'exports');
}

/** What the reader of a data subject's rows is made from. */
export interface SubjectSourceDeps {
  db: TenantDatabase;
  cipher: FieldCipher;
  keyring: TenantKeyring;
}

/**
 * Data exports (issue 16 item 4), served by the provisioning service: the routes, the job worker
 * and the sweep of expired files. Needs DatabaseModule in the app. `subjects`: the reader of one
 * data subject's rows (drafts' SubjectExport, bound by the app; without it a subject export is 501).
 */
@Module({})
export class ExportsModule {
  static register(options: Partial<ExportsOptions> & { subjects?: (deps: SubjectSourceDeps) => SubjectExportSource } = {}): DynamicModule {
    const { subjects, ...overrides } = options;
    const providers: Provider[] = [
      {
        provide: EXPORTS_OPTIONS,
        useFactory: (config: PlatformConfig): ExportsOptions => ({
          dir: defaultExportDir(config),
          linkTtlMs: readSetting('HOTDASH_EXPORT_LINK_TTL_S') * 1_000,
          now: () => new Date(),
          queueName: QueueName.DATA_EXPORT,
          concurrency: 2,
          perTenant: 1,
          sweepEveryMs: 60_000,
          worker: true,
          ...overrides,
        }),
        inject: [PLATFORM_CONFIG],
      },
      { provide: ExportStore, useFactory: (o: ExportsOptions) => new ExportStore(o.dir), inject: [EXPORTS_OPTIONS] },
      { provide: EXPORTS_QUEUE, useFactory: (config: PlatformConfig, o: ExportsOptions) => observeQueueDepth(new Queue(o.queueName, queueOptions(config, o.queueName))), inject: [PLATFORM_CONFIG, EXPORTS_OPTIONS] },
      { provide: EXPORTS_REDIS, useFactory: (config: PlatformConfig) => createRedis(config, { maxRetriesPerRequest: 2 }), inject: [PLATFORM_CONFIG] },
      ExportRunsRepository,
      ExportsService,
      ExportsWorker,
      ...cryptoProviders(),
      readinessProbe('redis', 'export queue', EXPORTS_QUEUE, (queue: Queue) => redisProbe(() => queue.getBackend().client)),
    ];
    if (subjects)
      providers.push({ provide: SUBJECT_EXPORT_SOURCE, useFactory: (db: TenantDatabase, cipher: FieldCipher, keyring: TenantKeyring) => subjects({ db, cipher, keyring }), inject: [TenantDatabase, FieldCipher, TenantKeyring] });
    return {
      module: ExportsModule,
      // Every route needs the gateway's internal token (audience hotdash-internal:provisioning).
      imports: [InternalAuthModule.forService('provisioning')],
      controllers: [ExportsController],
      providers,
      exports: [ExportsService, ExportsWorker, ExportStore, EXPORTS_QUEUE],
    };
  }
}
