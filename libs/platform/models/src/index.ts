export * from './embedder';
export * from './errors';
export * from './local-embedder';
export * from './openai-embedder';
export * from './openai-http';
