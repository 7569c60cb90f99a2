import { Inject, Injectable } from '@nestjs/common';
import { SignUpProblems } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { KmsPort } from '@hotdash/platform-crypto';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ControlDatabase, PLATFORM_CONFIG } from '@hotdash/platform-db';
import { PROVISIONING_SAGA } from '../../saga/provisioning.saga';
import { ProblemException } from '@hotdash/platform-http';
import { ProvisionTenantInput } from '../../saga/provisioning.input';
import { startProvisioning } from '../../saga/start-provisioning';
import { CreateTenantCommand } from './create-tenant.command';

export interface SignUpAccepted {
  sagaId: string;
  tenantId: string;
  /** The login slug: what the tenant's users sign in with (`tenant` of POST /auth/login). */
  tenant: string;
  status: 'provisioning';
  /** Where to follow the sign-up and sign in, as paths of the public API (ops: the ops routes). */
  links: Record<string, string>;
}

/**
 * Accepts a sign-up: starts the provisioning saga (or finds the one of the same idempotency key)
 * and answers at once; the saga makes the tenant. The tenant's region (data residency) is the one
 * asked for or the platform's default, and must have a shard the sign-up can be placed on: an
 * active shared shard, or for a dedicated sign-up a free dedicated one (422 region-unknown before
 * anything starts; the saga's placement looks again, within that region only).
 */
@Injectable()
export class CreateTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(KmsPort) private readonly kms: KmsPort,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(PLATFORM_CONFIG) private readonly config: PlatformConfig,
  ) {}

  /**
   * 422 region-unknown unless the region has a shard this sign-up can be placed on, as the
   * placement policy (pickShard) chooses: an active shared shard, or for a dedicated sign-up an
   * active dedicated shard with no tenant (one read of a small table). A dedicated shard never serves
   * a shared sign-up. The placement looks again in the saga (a shard drained or taken meanwhile).
   */
  private async regionServed(region: string, dedicated: boolean): Promise<void> {
    let q = this.control.db.selectFrom('shards').select('name').where('region', '=', region).where('status', '=', 'active');
    q = dedicated ? q.where('kind', '=', 'dedicated').where('tenant_count', '=', 0) : q.where('kind', '=', 'shared');
    if (await q.limit(1).executeTakeFirst()) return;
    throw new ProblemException(
      422,
      SignUpProblems.REGION_UNKNOWN,
      'Region not served',
      dedicated
        ? `Region ${region} has no free dedicated shard (active, kind dedicated, no tenant), so no dedicated tenant can be placed there now: ask us to add one there, or sign up in another region.`
        : `No active shared shard is registered in region ${region}, so no tenant can live there yet: sign up in a region the platform serves, or ask us to open this one.`,
    );
  }

  /** An asked-for slug must be free, unless it is this very sign-up's (a retry with the same key). */
  private async slugFree(slug: string, key: string | undefined): Promise<void> {
    const holder = await this.control.client.tenant.findUnique({ where: { slug }, select: { id: true } });
    if (!holder) return;
    const mine = key ? await this.engine.byIdempotencyKey(PROVISIONING_SAGA, key) : undefined;
    const mineFor = mine && ((await this.engine.status(mine))?.input as ProvisionTenantInput | undefined)?.tenantId;
    if (mineFor !== holder.id)
      throw new ProblemException(409, 'slug-taken', 'Slug taken', `Another tenant already signs in as "${slug}"; choose another slug.`);
  }

  async execute(cmd: CreateTenantCommand): Promise<SignUpAccepted> {
    const key = cmd.idempotencyKey ? `${cmd.actorId}:${cmd.idempotencyKey}` : undefined;
    const region = cmd.signUp.region ?? this.config.regions.default;
    if (cmd.signUp.slug) await this.slugFree(cmd.signUp.slug, key);
    await this.regionServed(region, cmd.signUp.dedicatedShard ?? false);
    const { sagaId, tenantId, slug, created } = await startProvisioning(this.engine, this.kms, { ...cmd.signUp, region }, key);
    if (!created) {
      // The same key with another sign-up is a client bug: say so instead of answering for the first one.
      const first = (await this.engine.status(sagaId))!.input as ProvisionTenantInput;
      if (first.name !== cmd.signUp.name || first.plan !== cmd.signUp.plan)
        throw new ProblemException(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was used for a different sign-up; use a new key for a new sign-up.');
    }
    const links: Record<string, string> = cmd.publicSignUp
      ? { status: `/signup/${sagaId}`, login: '/auth/login', docs: '/docs' }
      : { tenant: `/ops/tenants/${tenantId}`, provisioning: `/ops/tenants/${tenantId}/provisioning` };
    return { sagaId, tenantId, tenant: slug, status: 'provisioning', links };
  }
}
