export * from './documents/extract-text';
export * from './documents/chunking';
export * from './ingestion/ingest';
export * from './ingestion/ingestion.worker';
export * from './documents.service';
export * from './documents.controller';
export * from './knowledge.events-handler';
export * from './knowledge.module';
