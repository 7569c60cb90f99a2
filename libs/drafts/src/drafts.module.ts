import { Module } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { CertificateSigner, cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { Databases, TenantStatusCache } from '@hotdash/platform-db';
import { DecisionsService } from './decisions.service';
import { DraftMetricsService } from './draft-metrics';
import { DraftsController } from './drafts.controller';
import { DraftsEventsHandler } from './drafts.events-handler';
import { QueueFeed } from './queue-feed';
import { QueueStreamController } from './queue-stream.controller';
import { SLA_SWEEP_OPTIONS, SlaSweep, slaSweepOptions } from './sla.sweep';
import { TicketsService } from './tickets.service';
import { subjectErasureProviders } from './subject-erasure.providers';
import { SubjectErasureService } from './subject-erasure';
import { SubjectErasuresController } from './subject-erasures.controller';

/**
 * The drafts service: tickets (API and ticket.received), the approval queue per role, decisions on
 * drafts and their events, the drafts that ai-drafting writes (draft.generated / draft.failed),
 * per-tenant metrics, and the approval SLA (sla.ts: workflows kept from their event, each ticket's due
 * time, the sweep that flags and escalates; HOTDASH_DRAFTS_SLA_SWEEP_MS), and the queue's live changes (queue-feed.ts:
 * GET /internal/queue/stream, from the shards' hotdash_queue notifications). Needs DatabaseModule in the app.
 */
@Module({
  imports: [InternalAuthModule.forService('drafts')],
  controllers: [DraftsController, QueueStreamController, DraftsEventsHandler, SubjectErasuresController],
  providers: [
    TicketsService,
    DecisionsService,
    DraftMetricsService,
    QueueFeed,
    SlaSweep,
    { provide: SLA_SWEEP_OPTIONS, useFactory: () => slaSweepOptions() },
    { provide: TenantStatusCache, useFactory: (dbs: Databases) => new TenantStatusCache(dbs), inject: [Databases] },
    ...cryptoProviders(),
    ...subjectErasureProviders(),
  ],
  exports: [TicketsService, DecisionsService, DraftMetricsService, QueueFeed, SlaSweep, FieldCipher, SubjectErasureService, CertificateSigner],
})
export class DraftsModule {}
