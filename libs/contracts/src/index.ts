export * from './envelope';
export * from './topics';
export * from './tenant.events';
export * from './audit.events';
export * from './knowledge.events';
export * from './operator.events';
export * from './event-map';
export * from './tenant-id';
