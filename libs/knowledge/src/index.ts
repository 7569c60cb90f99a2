export * from './documents/extract-text';
export * from './documents/chunking';
export * from './ingestion/ingest';
