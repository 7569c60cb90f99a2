import { Module } from '@nestjs/common';
import { AuditLogRepository } from './audit-log.repository';
import { AuditEventsHandler } from './audit.events-handler';
import { RecordAuditEntryHandler } from './use-cases/record-audit-entry/record-audit-entry.handler';
import { VerifyAuditChainHandler } from './use-cases/verify-audit-chain/verify-audit-chain.handler';

/** The audit service: per-tenant, tamper-evident, hash-chained audit log. */
@Module({
  controllers: [AuditEventsHandler],
  providers: [AuditLogRepository, RecordAuditEntryHandler, VerifyAuditChainHandler],
  exports: [VerifyAuditChainHandler],
})
export class AuditModule {}
