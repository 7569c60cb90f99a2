import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { notFound, parseUuidParam, ProblemException } from '@hotdash/platform-http';
import { CreateTenantCommand } from './use-cases/create-tenant/create-tenant.command';
import { CreateTenantHandler } from './use-cases/create-tenant/create-tenant.handler';
import { TenantDto, TenantsRepository } from './tenants.repository';

const ACTOR_HEADER = 'x-hotdash-actor';
const CORRELATION_HEADER = 'x-correlation-id';

function headerValue(v: string | undefined, name: string, fallback: string): string {
  if (v === undefined || v === '') return fallback;
  if (v.length > 200 || !/^[\x21-\x7e]+$/.test(v)) throw new ProblemException(400, 'invalid-header', 'Invalid header', `${name} must be 1-200 visible ASCII characters`);
  return v;
}

/** Tenant sign-up and lookup. The gateway fronts this API for tenant admins; ops call it directly. */
@Controller('tenants')
export class TenantsController {
  constructor(
    @Inject(CreateTenantHandler) private readonly createTenant: CreateTenantHandler,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Headers(ACTOR_HEADER) actor?: string, @Headers(CORRELATION_HEADER) correlation?: string): Promise<TenantDto> {
    const cmd = CreateTenantCommand.create(body, headerValue(actor, ACTOR_HEADER, 'ops:unknown'), headerValue(correlation, CORRELATION_HEADER, newId()));
    return this.createTenant.execute(cmd);
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<TenantDto> {
    const tenantId = parseUuidParam(id);
    const t = await this.control.transaction((tx) => this.tenants.findById(tx, tenantId));
    if (!t) throw notFound(`tenant ${tenantId}`);
    return t;
  }
}
