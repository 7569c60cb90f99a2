export * from './quota.service';
export * from './quota.events-handler';
export * from './quota.controller';
export * from './quota.module';
