export * from './queues';
export * from './redis';
export * from './saga/saga.types';
export * from './saga/saga-engine';
export * from './saga/saga-probe';
export * from './tenant-limiter';
export * from './tenant-job';
export * from './store-outage';
