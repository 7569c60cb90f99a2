import { Module } from '@nestjs/common';
import { TenantsController } from './tenants.controller';
import { TenantsRepository } from './tenants.repository';
import { CreateTenantHandler } from './use-cases/create-tenant/create-tenant.handler';

/** The provisioning service: tenant sign-up and the tenant lifecycle (control plane). */
@Module({
  controllers: [TenantsController],
  providers: [TenantsRepository, CreateTenantHandler],
})
export class ProvisioningModule {}
