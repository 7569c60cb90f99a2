import { Body, Controller, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { MigrationProblems, migrationRunOperation, migrationRunParams, migrationStatus, registerShardBody, runMigrationsBody, SHARD_NAME, shardList, shardNameParams, ShardProblems, shardRegistration, shardStatusChange } from '@hotdash/contracts';
import { CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam, ProblemException } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/** A shard name from the path, refused at the edge when it is not one (it goes into the service's URL). */
function shardName(value: string): string {
  if (!SHARD_NAME.test(value)) throw new ProblemException(400, ShardProblems.INVALID_NAME, 'Invalid shard name', 'A shard name is 1 to 63 lower-case letters, digits and dashes.');
  return value;
}

const NOT_FOUND = { 404: 'No shard of this name (not-found)' };
const RETIRED = { 409: `The shard is retired (${ShardProblems.RETIRED}): register it again to bring it back` };

/**
 * The shard registry for the ops team (served by provisioning): register a database as a shard
 * (checked as the platform's roles, migrated, catalogue-guarded, then active and relayed), list
 * shards with tenants, size, schema version and relay lag, drain, activate, retire. Platform
 * operators' tokens only. Shapes and codes: libs/contracts/src/shards.api.ts.
 */
@Controller('ops/shards')
@OpsRoute()
export class OpsShardsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Ops: every shard with status, kind, region, tenants, database size, schema version and relay lag (an unreadable shard is listed with `error`)', response: shardList })
  @Get()
  list(@CurrentOps() ops: OpsPrincipal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', '/shards', ops));
  }

  @ApiDoc({
    summary:
      'Ops: register a database as a shard: reachable as the owner, application and relay roles, no role that bypasses row-level security, migrated to the current version, catalogue guard passed, then active and relayed. 201 when new, 200 when registered already (idempotent) or brought back from retired',
    body: registerShardBody,
    status: 201,
    response: shardRegistration,
    problems: {
      409: `The name or the location is registered with other details (${ShardProblems.EXISTS})`,
      422: `A check failed and nothing was registered: ${ShardProblems.UNREACHABLE}, ${ShardProblems.ROLE_BYPASSES_RLS}, ${ShardProblems.NOT_PREPARED}, ${ShardProblems.MIGRATION_FAILED}, ${ShardProblems.CATALOGUE_MISMATCH}`,
    },
  })
  @Post()
  register(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/shards', ops, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Ops: drain a shard: it keeps its tenants and takes no new one (idempotent)', params: shardNameParams, response: shardStatusChange, problems: { ...NOT_FOUND, ...RETIRED } })
  @Post(':name/drain')
  @HttpCode(200)
  drain(@CurrentOps() ops: OpsPrincipal, @Param('name') name: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/shards/${shardName(name)}/drain`, ops));
  }

  @ApiDoc({ summary: 'Ops: activate a drained shard: it takes new tenants again (idempotent)', params: shardNameParams, response: shardStatusChange, problems: { ...NOT_FOUND, ...RETIRED } })
  @Post(':name/activate')
  @HttpCode(200)
  activate(@CurrentOps() ops: OpsPrincipal, @Param('name') name: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/shards/${shardName(name)}/activate`, ops));
  }

  @ApiDoc({
    summary: 'Ops: retire a shard that holds no tenant: no placement, relay or migration reaches it any more (idempotent)',
    params: shardNameParams,
    response: shardStatusChange,
    problems: { ...NOT_FOUND, 409: `The shard still holds tenants (${ShardProblems.NOT_EMPTY}): move them first` },
  })
  @Post(':name/retire')
  @HttpCode(200)
  retire(@CurrentOps() ops: OpsPrincipal, @Param('name') name: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/shards/${shardName(name)}/retire`, ops));
  }
}

/** Migrations of every database (the control database and every shard not retired), for the ops team (served by provisioning). */
@Controller('ops/migrations')
@OpsRoute()
export class OpsMigrationsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Ops: per database (control and every shard), the migrations applied and those pending', response: migrationStatus })
  @Get()
  status(@CurrentOps() ops: OpsPrincipal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', '/migrations', ops));
  }

  @ApiDoc({
    summary:
      'Ops: start migrating every database to the current version (dryRun: true only says what would be applied): 202 with the run, carried out in the background; follow it at /ops/migrations/runs/{id}. One failing database never stops the others; one real run at a time',
    body: runMigrationsBody,
    status: 202,
    response: migrationRunOperation,
    problems: { 409: `A real run is in progress (${MigrationProblems.RUNNING}): follow it (its id is in the detail) instead of starting another` },
  })
  @Post()
  @HttpCode(202)
  run(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/migrations', ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: a migration run: status (running, succeeded, failed, interrupted), each database’s progress (waiting, running with the migration being applied, done with its outcome) and, once finished, the result (`ok` false when any database failed). A run whose process stopped is interrupted: start another (applied migrations stay applied)',
    params: migrationRunParams,
    response: migrationRunOperation,
    problems: { 404: 'No migration run of this id (not-found)' },
  })
  @Get('runs/:id')
  runById(@CurrentOps() ops: OpsPrincipal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/migrations/runs/${parseUuidParam(id, 'id')}`, ops));
  }
}
