import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { cryptoProviders, FieldCipher, KmsPort, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, Databases, PLATFORM_CONFIG, ShardInspector, ShardRouter, TenantDatabase, TenantMover, TenantStatusCache } from '@hotdash/platform-db';
import { createRedis, type RedisClient, redisProbe, SagaEngine, TenantStatusCacheProvider } from '@hotdash/platform-jobs';
import { readinessProbe } from '@hotdash/platform-http';
import { InternalAuthModule, stateRedis, TenantLimitsStore, tenantLimitsStore } from '@hotdash/platform-auth';
import { PROVISIONING_REDIS, PROVISIONING_SAGA_CONCURRENCY, PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';
import { VectorStore, vectorStoreFromEnv, vectorStoreProbe } from '@hotdash/platform-vector';
import { embedderFromEnv } from '@hotdash/platform-models';
import { SignupsController, TenantsController } from './tenants.controller';
import { TenantsRepository } from './tenants.repository';
import { CreateTenantHandler } from './use-cases/create-tenant/create-tenant.handler';
import { ChangeTenantStatusHandler } from './use-cases/change-tenant-status/change-tenant-status.handler';
import { ChangePlanHandler } from './use-cases/change-plan/change-plan.handler';
import { provisioningSaga } from './saga/provisioning.saga';
import { offboardingSaga } from './saga/offboarding.saga';
import { OffboardTenantHandler } from './use-cases/offboard-tenant/offboard-tenant.handler';
import { MigrationsController, ShardsController } from './shards.controller';
import { OpsActions, ShardsRepository } from './shards.repository';
import { RegisterShardHandler } from './use-cases/register-shard/register-shard.handler';
import { ChangeShardStatusHandler } from './use-cases/change-shard-status/change-shard-status.handler';
import { ListShardsHandler } from './use-cases/list-shards/list-shards.handler';
import { MigrateDatabasesHandler } from './use-cases/migrate-databases/migrate-databases.handler';
import { MigrationRunsRepository } from './migration-runs.repository';
import { BackupsController } from './backups.controller';
import { ArchiveStore, LocalArchiveStore } from './backups/archive-store';
import { TenantArchiveRunsRepository } from './backups/tenant-archive-runs.repository';
import { TenantArchiveRuns } from './backups/tenant-archive-runs';
import { BackUpTenantHandler } from './use-cases/back-up-tenant/back-up-tenant.handler';
import { RestoreTenantHandler } from './use-cases/restore-tenant/restore-tenant.handler';
import { ListBackupsHandler } from './use-cases/list-backups/list-backups.handler';
import { MovesController } from './moves.controller';
import { MoveTenantHandler } from './use-cases/move-tenant/move-tenant.handler';
import { TENANT_MOVE_CHECKPOINT, tenantMoveSaga, type TenantMoveDeps } from './moves/tenant-move.saga';
import { ImportsController } from './imports.controller';
import { ImportPilotHandler } from './use-cases/import-pilot/import-pilot.handler';
import { PilotImportSagaRegistration } from './imports/pilot-import.saga';
import { RebalanceController } from './rebalance.controller';
import { RebalanceRunsRepository } from './rebalance/rebalance-runs.repository';
import { RebalanceRegionHandler } from './use-cases/rebalance-region/rebalance-region.handler';
import { DedicatedController } from './dedicated.controller';
import { DedicatedDatabases } from './dedicated/dedicated-database';
import { DedicatedSagaDependencies } from './dedicated/dedicated.sagas';
import { DedicatedRuns } from './dedicated/dedicated-runs';
import { DedicateTenantHandler } from './use-cases/dedicate-tenant/dedicate-tenant.handler';
import { ShareTenantHandler } from './use-cases/share-tenant/share-tenant.handler';
import { KeysController } from './keys.controller';
import { KeyRotations } from './keys/key-rotations';
import { KekRotationsRepository } from './keys/kek-rotations.repository';
import { KekRotationSagaRegistration } from './keys/kek-rotation.saga';
import { TenantSettingsModule } from './settings/settings.module';
import { DeadLettersModule } from './dead-letters/dead-letters.module';


class EngineLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(PROVISIONING_REDIS) private readonly redis: RedisClient | null,
    @Inject(VectorStore) private readonly vectors: VectorStore,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.engine.close();
    this.redis?.disconnect();
    await this.vectors.close();
  }
}

/**
 * The provisioning service: tenant sign-up (the provisioning saga) and the tenant lifecycle.
 * The saga worker is started by the app (apps/provisioning), not by importing the module.
 */
@Module({
  // Every route needs the gateway's internal token (audience hotdash-internal:provisioning).
  // The tenant settings API (issue 16): its own module, so a spec can serve it alone.
  // Dead letters (ops, issue 17): its own module too (its own Kafka client).
  imports: [InternalAuthModule.forService('provisioning'), TenantSettingsModule.register(), DeadLettersModule.register()],
  controllers: [TenantsController, SignupsController, ShardsController, MigrationsController, BackupsController, MovesController, DedicatedController, RebalanceController, ImportsController, KeysController],
  providers: [
    TenantsRepository,
    CreateTenantHandler,
    ChangeTenantStatusHandler,
    ChangePlanHandler,
    OffboardTenantHandler,
    TenantStatusCacheProvider,
    // The shard registry and migrations (ops): shards are checked and migrated as the owner role.
    ShardsRepository,
    OpsActions,
    { provide: ShardInspector, useFactory: (config: PlatformConfig) => new ShardInspector(config), inject: [PLATFORM_CONFIG] },
    RegisterShardHandler,
    ChangeShardStatusHandler,
    ListShardsHandler,
    MigrationRunsRepository,
    MigrateDatabasesHandler,
    // Tenant backups and restores (ops): archives in the archive store (HOTDASH_BACKUP_DIR). Restores
    // verify the audit chain through TENANT_AUDIT_CHAIN, which the app binds (apps/provisioning).
    { provide: ArchiveStore, useFactory: (config: PlatformConfig) => new LocalArchiveStore(config.backup.dir), inject: [PLATFORM_CONFIG] },
    TenantArchiveRunsRepository,
    TenantArchiveRuns,
    BackUpTenantHandler,
    RestoreTenantHandler,
    ListBackupsHandler,
    // Live tenant moves (ops): the tenant-move saga over the mover's own connections (owner, mover and subscriber roles).
    { provide: TenantMover, useFactory: (config: PlatformConfig) => new TenantMover(config), inject: [PLATFORM_CONFIG] },
    MoveTenantHandler,
    // Pilot imports (ops): a single-tenant pilot's tenant brought in by the pilot-import saga (the live move with the pilot's shard as its source); the saga registers itself with the engine at start.
    ImportPilotHandler,
    PilotImportSagaRegistration,
    // Rebalancing a region's shared shards (ops): a plan of moves, carried out through MoveTenantHandler one at a time by default.
    RebalanceRunsRepository,
    RebalanceRegionHandler,
    // Dedicated databases for Enterprise (ops): a database created and registered as a dedicated shard, the tenant moved onto it (and back).
    DedicatedDatabases,
    DedicatedSagaDependencies,
    DedicatedRuns,
    DedicateTenantHandler,
    ShareTenantHandler,
    // Rotation of the key-encryption key (ops): the kek-rotation saga re-wraps the tenants' data keys in batches; it registers itself with the engine at start.
    KekRotationsRepository,
    KeyRotations,
    KekRotationSagaRegistration,
    // None with the embedded state store (HOTDASH_STATE_STORE=embedded): nothing here connects to Redis then.
    { provide: PROVISIONING_REDIS, useFactory: (config: PlatformConfig) => stateRedis(() => createRedis(config, { maxRetriesPerRequest: 2 })), inject: [PLATFORM_CONFIG] },
    // Where plan changes publish a tenant's limits for the gateways (HOTDASH_STATE_STORE: Redis, or the embedded state).
    { provide: TenantLimitsStore, useFactory: (redis: RedisClient | null) => tenantLimitsStore(redis), inject: [PROVISIONING_REDIS] },
    ...cryptoProviders(),
    // The vector store the configuration names (Weaviate, or LanceDB in embedded mode), with the embedder's dimensions as knowledge and ai-drafting build it.
    { provide: VectorStore, useFactory: (config: PlatformConfig) => vectorStoreFromEnv(config, embedderFromEnv().dimensions), inject: [PLATFORM_CONFIG] },
    {
      provide: SagaEngine,
      useFactory: (
        dbs: Databases,
        config: PlatformConfig,
        control: ControlDatabase,
        tenantDb: TenantDatabase,
        router: ShardRouter,
        keyring: TenantKeyring,
        cipher: FieldCipher,
        kms: KmsPort,
        vectors: VectorStore,
        statuses: TenantStatusCache,
        mover: TenantMover,
        dedicated: DedicatedSagaDependencies,
        checkpoint?: TenantMoveDeps['checkpoint'],
        queueName?: string,
        concurrency?: number,
      ) =>
        dedicated.registerOn(new SagaEngine(dbs, config, { log: (m) => console.warn(m), queueName: queueName ?? readSetting('HOTDASH_SAGA_QUEUE') ?? undefined, concurrency: concurrency ?? undefined })
          .register(provisioningSaga({ dbs, control, tenantDb, router, keyring, cipher, kms, vectors }))
          .register(offboardingSaga({ config, control, tenantDb, keyring, vectors, statuses }))
          .register(tenantMoveSaga({ mover, control, tenantDb, router, checkpoint: checkpoint ?? undefined }))),
      inject: [Databases, PLATFORM_CONFIG, ControlDatabase, TenantDatabase, ShardRouter, TenantKeyring, FieldCipher, KmsPort, VectorStore, TenantStatusCache, TenantMover, DedicatedSagaDependencies, { token: TENANT_MOVE_CHECKPOINT, optional: true }, { token: PROVISIONING_SAGA_QUEUE, optional: true }, { token: PROVISIONING_SAGA_CONCURRENCY, optional: true }],
    },
    EngineLifecycle,
    // Readiness: its Redis connections (revocation markers, the saga queue) and Weaviate (tenant namespaces).
    readinessProbe('redis', 'provisioning', PROVISIONING_REDIS, (redis: RedisClient | null) => (redis ? redisProbe(redis) : undefined)),
    readinessProbe('redis', 'saga queue', SagaEngine, (engine: SagaEngine) => engine.readinessProbe()),
    readinessProbe('weaviate', 'weaviate', VectorStore, vectorStoreProbe),
  ],
  exports: [SagaEngine, FieldCipher, TenantStatusCache],
})
export class ProvisioningModule {}
