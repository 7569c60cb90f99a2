import { Module } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { AuditLogController } from './audit-log.controller';
import { AuditLogRepository } from './audit-log.repository';
import { AuditEventsHandler } from './audit.events-handler';
import { RecordAuditEntryHandler } from './use-cases/record-audit-entry/record-audit-entry.handler';
import { VerifyAuditChainHandler } from './use-cases/verify-audit-chain/verify-audit-chain.handler';

/**
 * The audit service: per-tenant, tamper-evident, hash-chained audit log, and its HTTP API for
 * tenant admins behind the gateway (internal tokens only: the guard is on the controller, so the
 * API stays closed in whatever app composes this module).
 */
@Module({
  imports: [InternalAuthModule.forService('audit')],
  controllers: [AuditEventsHandler, AuditLogController],
  providers: [AuditLogRepository, RecordAuditEntryHandler, VerifyAuditChainHandler],
  exports: [VerifyAuditChainHandler],
})
export class AuditModule {}
