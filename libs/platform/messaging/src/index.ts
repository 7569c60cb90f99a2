export * from './kafka';
export * from './outbox';
export * from './relay';
export * from './event-transport';
export * from './errors';
export * from './headers';
export * from './relay-supervisor';
export * from './event-errors.filter';
