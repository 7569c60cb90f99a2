import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Put, UseGuards, UseInterceptors } from '@nestjs/common';
import { parseTenantId, type SignedTenantErasureCertificate } from '@hotdash/contracts';
import { actorOf, Allow, CallableBy, CurrentCaller, InternalCaller, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, parseHeader, parseUuidParam } from '@hotdash/platform-http';
import { CreateTenantCommand } from './use-cases/create-tenant/create-tenant.command';
import { CreateTenantHandler, SignUpAccepted } from './use-cases/create-tenant/create-tenant.handler';
import { TenantDto, TenantsRepository } from './tenants.repository';
import { PROVISIONING_SAGA } from './saga/provisioning.saga';
import { OFFBOARDING_SAGA } from './saga/offboarding.saga';
import { ProvisionTenantInput, slugFor } from './saga/provisioning.input';
import { ChangeTenantStatusHandler } from './use-cases/change-tenant-status/change-tenant-status.handler';
import { ChangePlanHandler } from './use-cases/change-plan/change-plan.handler';
import { OffboardingAccepted, OffboardTenantHandler } from './use-cases/offboard-tenant/offboard-tenant.handler';

const CORRELATION_HEADER = 'x-correlation-id';
const IDEMPOTENCY_HEADER = 'idempotency-key';

/** A lifecycle saga's progress, step by step (provisioning, offboarding). */
export interface SagaProgressView {
  tenantId: string;
  sagaId: string;
  status: string;
  failedStep: string | null;
  error: string | null;
  steps: { id: string; description: string; status: string; attempts: number; lastError: string | null; startedAt: string | null; completedAt: string | null; compensatedAt: string | null }[];
  startedAt: string;
  finishedAt: string | null;
}

/**
 * Tenant sign-up, lookup and lifecycle. Only the gateway calls it, with an internal token: sign-up
 * for anonymous callers and the ops team, the tenant's own record for its users, the lifecycle
 * (suspend, reactivate, plan, offboarding, progress) for platform operators only.
 */
@Controller('tenants')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
@CallableBy('platform')
export class TenantsController {
  constructor(
    @Inject(CreateTenantHandler) private readonly createTenant: CreateTenantHandler,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ChangeTenantStatusHandler) private readonly statusChanges: ChangeTenantStatusHandler,
    @Inject(ChangePlanHandler) private readonly planChanges: ChangePlanHandler,
    @Inject(OffboardTenantHandler) private readonly offboarding: OffboardTenantHandler,
  ) {}

  /** Starts offboarding: 202 with the saga id; the tenant's data is erased from every store. */
  @Post(':tenantId/offboard')
  @HttpCode(202)
  offboard(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<OffboardingAccepted> {
    return this.offboarding.execute(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
  }

  /** Suspends an active tenant: its writes are refused, its reads allowed, consumers skip its new work. */
  @Post(':tenantId/suspend')
  @HttpCode(200)
  suspend(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Headers(CORRELATION_HEADER) correlation?: string): Promise<TenantDto> {
    return this.statusChanges.suspend(parseUuidParam(id, 'tenantId'), body, actorOf(caller), parseHeader(correlation, CORRELATION_HEADER, newId()));
  }

  @Post(':tenantId/reactivate')
  @HttpCode(200)
  reactivate(@Param('tenantId') id: string, @CurrentCaller() caller: InternalCaller, @Headers(CORRELATION_HEADER) correlation?: string): Promise<TenantDto> {
    return this.statusChanges.reactivate(parseUuidParam(id, 'tenantId'), actorOf(caller), parseHeader(correlation, CORRELATION_HEADER, newId()));
  }

  /** Changes the plan; the new limits apply at once. */
  @Put(':tenantId/plan')
  changePlan(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Headers(CORRELATION_HEADER) correlation?: string): Promise<TenantDto> {
    return this.planChanges.execute(parseUuidParam(id, 'tenantId'), body, actorOf(caller), parseHeader(correlation, CORRELATION_HEADER, newId()));
  }

  /** Starts provisioning; 202 with the saga id. The same Idempotency-Key always answers for the same tenant. */
  @Post()
  @HttpCode(202)
  @CallableBy('anonymous', 'platform')
  async create(
    @Body() body: unknown,
    @CurrentCaller() caller: InternalCaller,
    @Headers(CORRELATION_HEADER) correlation?: string,
    @Headers(IDEMPOTENCY_HEADER) idempotencyKey?: string,
  ): Promise<SignUpAccepted> {
    const cmd = CreateTenantCommand.create(
      body,
      actorOf(caller),
      parseHeader(correlation, CORRELATION_HEADER, newId()),
      parseHeader(idempotencyKey, IDEMPOTENCY_HEADER),
      { public: caller.kind === 'anonymous' },
    );
    return this.createTenant.execute(cmd);
  }

  /** The tenant's record: its own users (profile:read) and the ops team. */
  @Get(':tenantId')
  @CallableBy('tenant', 'platform')
  @Allow('profile:read')
  async get(@Param('tenantId') id: string): Promise<TenantDto> {
    const tenantId = parseUuidParam(id, 'tenantId');
    const t = await this.control.transaction((tx) => this.tenants.findById(tx, tenantId));
    if (!t) throw notFound(`tenant ${tenantId}`);
    return t;
  }

  /** Each provisioning step's state, for the sign-up page and for ops. */
  @Get(':tenantId/provisioning')
  provisioning(@Param('tenantId') id: string): Promise<SagaProgressView> {
    return this.progress(parseUuidParam(id, 'tenantId'), PROVISIONING_SAGA, 'provisioning', { running: 'provisioning', completed: 'provisioned' });
  }

  /** Each offboarding step's state (erase shard rows, Weaviate tenant, jobs, Redis keys, data key), for ops. */
  @Get(':tenantId/offboarding')
  offboardingProgress(@Param('tenantId') id: string): Promise<SagaProgressView> {
    return this.progress(parseUuidParam(id, 'tenantId'), OFFBOARDING_SAGA, 'offboarding', { running: 'offboarding', completed: 'offboarded' });
  }

  /** The signed certificate of what the tenant's offboarding erased where (404 until its offboarding has finished). */
  @Get(':tenantId/offboarding/certificate')
  async offboardingCertificate(@Param('tenantId') id: string): Promise<SignedTenantErasureCertificate> {
    const tenantId = parseUuidParam(id, 'tenantId');
    const row = await this.control.db.selectFrom('offboarding_records').select('certificate').where('tenant_id', '=', tenantId).executeTakeFirst();
    if (!row?.certificate) throw notFound(`offboarding certificate of tenant ${tenantId} (none until its offboarding has finished)`);
    return row.certificate as SignedTenantErasureCertificate;
  }

  /** The tenant's latest saga of a type, with the saga's status named for the reader. */
  private async progress(tenantId: string, type: string, what: string, names: Record<string, string>): Promise<SagaProgressView> {
    const latest = await this.engine.latestOf(type, parseTenantId(tenantId));
    const s = latest && (await this.engine.status(latest));
    if (!s) throw notFound(`${what} of tenant ${tenantId}`);
    return {
      tenantId,
      sagaId: s.id,
      status: names[s.status] ?? s.status,
      failedStep: s.failedStep,
      error: s.lastError,
      steps: s.steps.map((x) => ({
        id: x.id,
        description: x.description,
        status: x.status,
        attempts: x.attempts,
        lastError: x.lastError,
        startedAt: x.startedAt,
        completedAt: x.completedAt,
        compensatedAt: x.compensatedAt,
      })),
      startedAt: s.createdAt,
      finishedAt: s.finishedAt,
    };
  }
}

/** A sign-up's progress as its anonymous caller may see it: no name, no e-mail, no step errors. */
export interface SignUpProgress {
  sagaId: string;
  tenantId: string;
  /** The login slug (`tenant` of POST /auth/login). */
  tenant: string;
  /** provisioning, then active (the admin's invitation is on its way) or failed (nothing was kept). */
  status: 'provisioning' | 'active' | 'failed';
  steps: { done: number; total: number };
  detail: string;
}

/**
 * A sign-up's progress by its saga id (what the sign-up answered): public, since the one who signed
 * up holds no credential yet; the id is the capability (UUIDv7, 74 random bits) and the answer names
 * nothing a stranger could use.
 */
@Controller('signups')
@UseGuards(InternalAuthGuard)
@CallableBy('anonymous', 'platform')
export class SignupsController {
  constructor(@Inject(SagaEngine) private readonly engine: SagaEngine) {}

  @Get(':sagaId')
  async get(@Param('sagaId') id: string): Promise<SignUpProgress> {
    const s = await this.engine.status(parseUuidParam(id, 'sagaId'));
    if (!s || s.type !== PROVISIONING_SAGA) throw notFound(`sign-up ${id}`);
    const input = s.input as ProvisionTenantInput;
    const status = s.status === 'completed' ? 'active' : s.status === 'running' ? 'provisioning' : 'failed';
    return {
      sagaId: s.id,
      tenantId: input.tenantId,
      tenant: input.slug ?? slugFor(input.name, input.tenantId),
      status,
      steps: { done: s.steps.filter((x) => x.status === 'completed').length, total: s.steps.length },
      detail:
        status === 'active'
          ? 'Ready: the administrator has been mailed an invitation to set a password, then signs in with this tenant slug.'
          : status === 'provisioning'
            ? 'Being set up; this takes a few seconds.'
            : `The sign-up could not be completed and nothing was kept; sign up again, or contact support with this id (${s.id}).`,
    };
  }
}
