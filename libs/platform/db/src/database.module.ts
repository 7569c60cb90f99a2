import { Global, Inject, Module, OnApplicationShutdown, DynamicModule } from '@nestjs/common';
import { loadConfig, PlatformConfig } from '@hotdash/platform-config';
import { Databases } from './databases';
import { ShardRouter } from './shard-router';
import { TenantDatabase } from './tenant-database';
import { ControlDatabase } from './control-database';
import { TenantDirectory } from './tenant-directory';

export const PLATFORM_CONFIG = Symbol('PLATFORM_CONFIG');

class DatabasesLifecycle implements OnApplicationShutdown {
  constructor(@Inject(Databases) private readonly dbs: Databases) {}
  async onApplicationShutdown(): Promise<void> {
    await this.dbs.close();
  }
}

/** Provides the platform configuration, the pools, the shard router, withTenant(), the control plane and the tenant directory. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(config: PlatformConfig = loadConfig()): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: PLATFORM_CONFIG, useValue: config },
        { provide: Databases, useFactory: () => new Databases(config) },
        { provide: ShardRouter, useFactory: (dbs: Databases) => new ShardRouter(dbs), inject: [Databases] },
        { provide: TenantDatabase, useFactory: (dbs: Databases, r: ShardRouter) => new TenantDatabase(dbs, r), inject: [Databases, ShardRouter] },
        { provide: ControlDatabase, useFactory: (dbs: Databases) => new ControlDatabase(dbs), inject: [Databases] },
        { provide: TenantDirectory, useFactory: (dbs: Databases) => new TenantDirectory(dbs), inject: [Databases] },
        DatabasesLifecycle,
      ],
      exports: [PLATFORM_CONFIG, Databases, ShardRouter, TenantDatabase, ControlDatabase, TenantDirectory],
    };
  }
}
