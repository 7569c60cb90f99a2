import { Module } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { QuotaController } from './quota.controller';
import { QuotaEventsHandler } from './quota.events-handler';
import { QuotaService } from './quota.service';

/** The quota service: plans' quotas, usage metered from events, exact reservations, usage per day. */
@Module({
  imports: [InternalAuthModule.forService('quota')],
  controllers: [QuotaEventsHandler, QuotaController],
  providers: [QuotaService],
  exports: [QuotaService],
})
export class QuotaModule {}
