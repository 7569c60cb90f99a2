export * from './errors';
export * from './vector-store';
export * from './weaviate-vector-store';
export * from './lancedb-vector-store';
export * from './retrieval';
export * from './vector-store-from-env';
export * from './tenant-activity';
export * from './idle-tenant-sweep';
