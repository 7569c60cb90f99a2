export * from './embedder';
export * from './errors';
export * from './local-embedder';
export * from './openai-embedder';
export * from './openai-http';
export * from './drafting-model';
export * from './offline-drafter';
export * from './openai-chat';
