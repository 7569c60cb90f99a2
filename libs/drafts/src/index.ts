export * from './drafts.module';
export * from './tickets.service';
export * from './decisions.service';
export * from './draft-metrics';
export * from './ticket-records';
export * from './queue-scope';
