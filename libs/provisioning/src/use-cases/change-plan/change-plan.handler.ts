import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { parseTenantId, PlanCode, PlanCodes, TenantEvents } from '@hotdash/contracts';
import { ControlDatabase } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { TenantDto, TenantsRepository } from '../../tenants.repository';
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';

export const changePlanBody = z.object({ plan: z.enum(PlanCodes, { message: `plan must be one of: ${PlanCodes.join(', ')}` }) }).strict();

/** Changes an active or suspended tenant's plan; its limits change at once (tenant.plan-changed). */
@Injectable()
export class ChangePlanHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
  ) {}

  async execute(id: string, body: unknown, actorId: string, correlationId: string): Promise<TenantDto> {
    const tenantId = parseTenantId(id);
    const { plan } = parseInput(changePlanBody, body, (path) => (path === 'plan' ? 'invalid-plan' : undefined));
    return this.control.transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ plan_code: string; status: string }[]>`select plan_code, status from tenants where id = ${tenantId}::uuid for update`;
      const t = rows[0];
      if (!t) throw notFound(`tenant ${tenantId}`);
      if (t.status !== 'active' && t.status !== 'suspended')
        throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; plans change only for active or suspended tenants`);
      if (t.plan_code !== plan) {
        await tx.$executeRaw`update tenants set plan_code = ${plan}, updated_at = now() where id = ${tenantId}::uuid`;
        await publishInTx(tx, TenantEvents.PLAN_CHANGED, { tenantId, from: t.plan_code as PlanCode, to: plan, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId });
      }
      return (await this.tenants.findById(tx, tenantId))!;
    });
  }
}
