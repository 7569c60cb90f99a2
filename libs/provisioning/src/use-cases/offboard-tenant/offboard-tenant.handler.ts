import { Inject, Injectable } from '@nestjs/common';
import { offboardBody, parseTenantId } from '@hotdash/contracts';
import { ControlDatabase } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { OFFBOARDING_SAGA, OffboardTenantInput } from '../../saga/offboarding.saga';


export interface OffboardingAccepted {
  sagaId: string;
  tenantId: string;
  status: 'offboarding';
}

/** Starts the offboarding saga of an active or suspended tenant; one offboarding per tenant, however often asked. */
@Injectable()
export class OffboardTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
  ) {}

  async execute(id: string, body: unknown, actorId: string): Promise<OffboardingAccepted> {
    const tenantId = parseTenantId(id);
    const { reason } = parseInput(offboardBody, body);
    const t = await this.control.client.tenant.findUnique({ where: { id: tenantId } });
    if (!t) throw notFound(`tenant ${tenantId}`);
    // offboarding or offboarded: the saga of the first request answers (idempotency key per tenant).
    if (!['active', 'suspended', 'offboarding', 'offboarded'].includes(t.status))
      throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; only an active or suspended tenant can be offboarded`);
    const input: OffboardTenantInput = { tenantId, reason, requestedBy: actorId, requestedAt: new Date().toISOString() };
    const { sagaId } = await this.engine.start(OFFBOARDING_SAGA, input, { tenantId, idempotencyKey: `offboard:${tenantId}` });
    return { sagaId, tenantId, status: 'offboarding' };
  }
}
