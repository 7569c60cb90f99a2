export * from './draft-composer';
export * from './drafting.job';
export * from './drafting.worker';
export * from './drafting.events-handler';
export * from './drafting-profiles.repository';
export * from './drafting-profiles.events-handler';
export * from './ai-drafting.module';
