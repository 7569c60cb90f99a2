export * from './errors';
export * from './vector-store';
export * from './weaviate-vector-store';
