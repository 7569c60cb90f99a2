export * from './audit.module';
export * from './hash-chain';
export * from './audit-log.repository';
export * from './use-cases/record-audit-entry/record-audit-entry.handler';
export * from './use-cases/verify-audit-chain/verify-audit-chain.handler';
export * from './audit-log.controller';
