import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Patch, Post, Put, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { acceptedInvitationView, acceptInvitationBody, changePlanBody, invitedOperatorView, inviteOperatorBody, offboardBody, operatorListView, operatorView, publicSignUpBody, signedTenantErasureCertificate, signUpBody, SignUpProblems, suspendBody, updateOperatorBody } from '@hotdash/contracts';
import { Allow, ANONYMOUS_CALLER, Audited, CurrentOps, CurrentPrincipal, LimitPerAddress, OpsPrincipal, OpsRoute, Principal, Public } from '@hotdash/platform-auth';
import { ApiDoc, CREDENTIALS_BODY_LIMIT, parseUuidParam } from '@hotdash/platform-http';
import { IdempotentReplies, storedReply } from './idempotency';
import { passThrough, sendStored, ServiceClient } from './service-client';

/** Headers a caller may send that the service reads; never a credential. */
const passOn = (idempotencyKey?: string, correlationId?: string) => ({ 'idempotency-key': idempotencyKey, 'x-correlation-id': correlationId });

/** The caller's own organisation: name, slug, plan, status (served by provisioning). */
@Controller('tenant')
@Allow('profile:read')
@Audited('tenant', 'read')
export class TenantProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: "The caller's organisation: name, slug, plan, status" })
  @Get()
  get(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}`, p));
  }
}

/**
 * The tenant's operators: team leads, managers and admins list them; admins invite (the invitation
 * is mailed), change roles and remove (a removed operator's tokens stop at once). Served by
 * provisioning. Another tenant's operator is a 404, like a missing one.
 */
@Controller('operators')
@Audited('user')
export class OperatorsProxyController {
  constructor(
    @Inject(ServiceClient) private readonly services: ServiceClient,
    @Inject(IdempotentReplies) private readonly idempotency: IdempotentReplies,
  ) {}

  @ApiDoc({ summary: "The tenant's operators and their roles", response: operatorListView })
  @Get()
  @Allow('users:read')
  list(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}/operators`, p));
  }

  @ApiDoc({ summary: 'Invite an operator (mailed an invitation; Idempotency-Key makes retries safe)', body: inviteOperatorBody, status: 201, response: invitedOperatorView })
  @Post()
  @Allow('users:manage')
  async invite(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Headers('idempotency-key') key: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const r = await this.idempotency.once({ tenantId: p.tenantId, route: 'POST /operators' }, key, body, async () =>
      storedReply(await this.services.call('provisioning', 'POST', `/tenants/${p.tenantId}/operators`, p, { body: body ?? {} })),
    );
    await sendStored(reply, r);
  }

  @ApiDoc({ summary: "Change an operator's role, team (null: none), or both", body: updateOperatorBody, resource: 'operator', response: operatorView })
  @Patch(':id')
  @Allow('users:manage')
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const userId = parseUuidParam(id);
    return passThrough(reply, this.services.call('provisioning', 'PATCH', `/tenants/${p.tenantId}/operators/${userId}`, p, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Remove an operator (their access ends at once)', status: 204, resource: 'operator' })
  @Delete(':id')
  @Allow('users:manage')
  remove(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    const userId = parseUuidParam(id);
    return passThrough(reply, this.services.call('provisioning', 'DELETE', `/tenants/${p.tenantId}/operators/${userId}`, p));
  }
}

/** Public routes that need no credential: signing up a new organisation and accepting an invitation. */
@Controller()
@Public()
export class PublicProvisioningController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Sign up a new organisation on a self-serve plan, in the region its data will live in (default: the platform’s): 202 with the saga id, the login slug and links; the admin is mailed an invitation (Idempotency-Key makes retries safe)',
    body: publicSignUpBody,
    status: 202,
    problems: { 422: `No shard serves the region asked for (${SignUpProblems.REGION_UNKNOWN})` },
  })
  @Post('signup')
  @LimitPerAddress(5)
  signUp(@Body() body: unknown, @Headers('idempotency-key') key: string | undefined, @Headers('x-correlation-id') correlation: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/tenants', ANONYMOUS_CALLER, { body: body ?? {}, headers: passOn(key, correlation) }));
  }

  @ApiDoc({ summary: "A sign-up's progress by the saga id it answered: provisioning, active or failed, and the login slug" })
  @Get('signup/:sagaId')
  @LimitPerAddress(120)
  signUpProgress(@Param('sagaId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/signups/${parseUuidParam(id, 'sagaId')}`, ANONYMOUS_CALLER));
  }

  @ApiDoc({
    summary: 'Accept an invitation (the token from the e-mail) and set the password; answers the login slug',
    body: acceptInvitationBody,
    bodyLimitBytes: CREDENTIALS_BODY_LIMIT,
    response: acceptedInvitationView,
    problems: {
      400: 'Invalid body (weak-password, unknown-field)',
      403: 'The organisation signs in through single sign-on only (password-sign-in-disabled)',
      404: 'No such invitation (invitation-not-found)',
      409: 'The invitation was accepted already (invitation-used)',
      410: 'The invitation expired (invitation-expired)',
    },
  })
  @Post('invitations/accept')
  @LimitPerAddress(20)
  accept(@Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/invitations/accept', ANONYMOUS_CALLER, { body: body ?? {} }));
  }
}

/**
 * The ops team's tenant lifecycle: look a tenant up, follow its provisioning or offboarding, suspend,
 * reactivate, change its plan, offboard it, sign one up on a customer's behalf. Platform operators'
 * tokens only (POST /ops/login); no tenant credential reaches these routes.
 */
@Controller('ops/tenants')
@OpsRoute()
export class OpsTenantsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary: 'Ops: sign up an organisation on a customer’s behalf, in the region its data will live in (dedicated shard allowed for Enterprise)',
    body: signUpBody,
    status: 202,
    problems: { 422: `No shard serves the region asked for (${SignUpProblems.REGION_UNKNOWN})` },
  })
  @Post()
  create(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Headers('idempotency-key') key: string | undefined, @Headers('x-correlation-id') correlation: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/tenants', ops, { body: body ?? {}, headers: passOn(key, correlation) }));
  }

  @ApiDoc({ summary: 'Ops: a tenant’s record: name, slug, plan, status, shard and region (where its data lives)' })
  @Get(':tenantId')
  get(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}`, ops));
  }

  @ApiDoc({ summary: 'Ops: each provisioning step’s state' })
  @Get(':tenantId/provisioning')
  provisioning(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/provisioning`, ops));
  }

  @ApiDoc({ summary: 'Ops: each offboarding step’s state' })
  @Get(':tenantId/offboarding')
  offboarding(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/offboarding`, ops));
  }

  @ApiDoc({ summary: 'Ops: the signed certificate of what an offboarding erased where (verify it with `hotdash-ops certificate verify`)', response: signedTenantErasureCertificate, problems: { 404: 'No finished offboarding of this tenant (not-found)' } })
  @Get(':tenantId/offboarding/certificate')
  offboardingCertificate(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/offboarding/certificate`, ops));
  }

  @ApiDoc({ summary: 'Ops: suspend a tenant (writes refused, reads allowed)', body: suspendBody })
  @Post(':tenantId/suspend')
  @HttpCode(200)
  suspend(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/suspend`, ops, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Ops: reactivate a suspended tenant' })
  @Post(':tenantId/reactivate')
  @HttpCode(200)
  reactivate(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/reactivate`, ops));
  }

  @ApiDoc({
    summary: 'Ops: change a tenant’s plan (limits apply at once). A downgrade from Enterprise of a tenant on a dedicated shard is refused: share it back first (POST /ops/tenants/{tenantId}/share)',
    body: changePlanBody,
    problems: { 409: 'invalid-tenant-status; tenant-on-dedicated-shard (share it back first); dedicated-run-in-progress' },
  })
  @Put(':tenantId/plan')
  changePlan(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'PUT', `/tenants/${parseUuidParam(id, 'tenantId')}/plan`, ops, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Ops: offboard a tenant (erases its data from every store): 202 with the saga id', body: offboardBody, status: 202 })
  @Post(':tenantId/offboard')
  offboard(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/offboard`, ops, { body: body ?? {} }));
  }
}
