export * from './draft-composer';
export * from './drafting.job';
export * from './drafting.worker';
export * from './drafting.events-handler';
export * from './ai-drafting.module';
