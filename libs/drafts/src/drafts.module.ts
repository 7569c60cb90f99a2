import { Module } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { Databases, TenantStatusCache } from '@hotdash/platform-db';
import { DecisionsService } from './decisions.service';
import { DraftMetricsService } from './draft-metrics';
import { DraftsController } from './drafts.controller';
import { DraftsEventsHandler } from './drafts.events-handler';
import { TicketsService } from './tickets.service';

/**
 * The drafts service: tickets (API and ticket.received), the approval queue per role, decisions on
 * drafts and their events, the drafts that ai-drafting writes (draft.generated / draft.failed),
 * and per-tenant metrics. Needs DatabaseModule in the app.
 */
@Module({
  imports: [InternalAuthModule.forService('drafts')],
  controllers: [DraftsController, DraftsEventsHandler],
  providers: [
    TicketsService,
    DecisionsService,
    DraftMetricsService,
    { provide: TenantStatusCache, useFactory: (dbs: Databases) => new TenantStatusCache(dbs), inject: [Databases] },
    ...cryptoProviders(),
  ],
  exports: [TicketsService, DecisionsService, DraftMetricsService, FieldCipher],
})
export class DraftsModule {}
