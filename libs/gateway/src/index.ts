export * from './rate-limiter';
export * from './rate-limit.guard';
export * from './plan-limits';
export * from './gateway.module';
export * from './access-log';
export * from './access-audit.interceptor';
export * from './service-client';
export * from './service-proxies.controller';
