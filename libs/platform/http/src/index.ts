export * from './problem';
export * from './problem.filter';
export * from './validation';
export * from './http-app';
export * from './health.controller';
export * from './service-runner';
export * from './api-doc';
export * from './public-links';
