export * from './provisioning.module';
export * from './tenants.repository';
export * from './use-cases/create-tenant/create-tenant.command';
export * from './use-cases/create-tenant/create-tenant.handler';
export * from './saga/provisioning.saga';
export * from './saga/provisioning.input';
export * from './saga/start-provisioning';
