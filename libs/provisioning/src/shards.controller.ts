import { Body, Controller, Get, HttpCode, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { MigrationRunOperation, MigrationStatus, ShardList, ShardRegistration, ShardStatusChange } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { RegisterShardHandler } from './use-cases/register-shard/register-shard.handler';
import { ChangeShardStatusHandler } from './use-cases/change-shard-status/change-shard-status.handler';
import { ListShardsHandler } from './use-cases/list-shards/list-shards.handler';
import { MigrateDatabasesHandler } from './use-cases/migrate-databases/migrate-databases.handler';

/**
 * The shard registry, for the ops team only (the gateway's /ops/shards): register a database as a
 * shard (checked, migrated, then active), list shards with their live figures, drain, activate,
 * retire. Shapes and problem codes: libs/contracts/src/shards.api.ts.
 */
@Controller('shards')
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class ShardsController {
  constructor(
    @Inject(RegisterShardHandler) private readonly registration: RegisterShardHandler,
    @Inject(ChangeShardStatusHandler) private readonly statuses: ChangeShardStatusHandler,
    @Inject(ListShardsHandler) private readonly listing: ListShardsHandler,
  ) {}

  @Get()
  list(): Promise<ShardList> {
    return this.listing.execute();
  }

  /** 201 when the shard is new, 200 when it was registered already (or is brought back from retired). */
  @Post()
  async register(@Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<ShardRegistration> {
    const result = await this.registration.execute(body, actorOf(caller));
    void reply.status(result.outcome === 'registered' ? 201 : 200);
    return result;
  }

  @Post(':name/drain')
  @HttpCode(200)
  drain(@Param('name') name: string, @CurrentCaller() caller: InternalCaller): Promise<ShardStatusChange> {
    return this.statuses.drain(name, actorOf(caller));
  }

  @Post(':name/activate')
  @HttpCode(200)
  activate(@Param('name') name: string, @CurrentCaller() caller: InternalCaller): Promise<ShardStatusChange> {
    return this.statuses.activate(name, actorOf(caller));
  }

  @Post(':name/retire')
  @HttpCode(200)
  retire(@Param('name') name: string, @CurrentCaller() caller: InternalCaller): Promise<ShardStatusChange> {
    return this.statuses.retire(name, actorOf(caller));
  }
}

/** Migrations of every database (control and every shard not retired), for the ops team (the gateway's /ops/migrations). */
@Controller('migrations')
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class MigrationsController {
  constructor(@Inject(MigrateDatabasesHandler) private readonly migrations: MigrateDatabasesHandler) {}

  @Get()
  status(): Promise<MigrationStatus> {
    return this.migrations.status();
  }

  /** Starts a run (dry or real): 202 with the run, which goes on in the background; follow it at runs/:id. */
  @Post()
  @HttpCode(202)
  run(@Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<MigrationRunOperation> {
    return this.migrations.start(body, actorOf(caller));
  }

  /** A run's per-database progress and, once finished, its result. */
  @Get('runs/:id')
  runById(@Param('id') id: string): Promise<MigrationRunOperation> {
    return this.migrations.get(parseUuidParam(id, 'id'));
  }
}
