import { Inject, Injectable } from '@nestjs/common';
import { KmsPort } from '@hotdash/platform-crypto';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ProblemException } from '@hotdash/platform-http';
import { ProvisionTenantInput } from '../../saga/provisioning.input';
import { startProvisioning } from '../../saga/start-provisioning';
import { CreateTenantCommand } from './create-tenant.command';

export interface SignUpAccepted {
  sagaId: string;
  tenantId: string;
  status: 'provisioning';
  links: { tenant: string; provisioning: string };
}

/**
 * Accepts a sign-up: starts the provisioning saga (or finds the one of the same idempotency key)
 * and answers at once; the saga makes the tenant.
 */
@Injectable()
export class CreateTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(KmsPort) private readonly kms: KmsPort,
  ) {}

  async execute(cmd: CreateTenantCommand): Promise<SignUpAccepted> {
    const key = cmd.idempotencyKey ? `${cmd.actorId}:${cmd.idempotencyKey}` : undefined;
    const { sagaId, tenantId, created } = await startProvisioning(this.engine, this.kms, cmd.signUp, key);
    if (!created) {
      // The same key with another sign-up is a client bug: say so instead of answering for the first one.
      const first = (await this.engine.status(sagaId))!.input as ProvisionTenantInput;
      if (first.name !== cmd.signUp.name || first.plan !== cmd.signUp.plan)
        throw new ProblemException(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was used for a different sign-up; use a new key for a new sign-up.');
    }
    return { sagaId, tenantId, status: 'provisioning', links: { tenant: `/tenants/${tenantId}`, provisioning: `/tenants/${tenantId}/provisioning` } };
  }
}
