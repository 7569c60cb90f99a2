export * from './provisioning.module';
export * from './tenants.repository';
export * from './use-cases/create-tenant/create-tenant.command';
export * from './use-cases/create-tenant/create-tenant.handler';
