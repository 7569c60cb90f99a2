import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { actorOf, Allow, CallableBy, CurrentCaller, InternalCaller, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { AcceptedInvitation, OperatorDto, OperatorsHandler } from './operators.handler';

/**
 * A tenant's operators: its admins manage them through the gateway (users:manage; team leads and
 * managers may list them), the ops team may too. A tenant caller naming another tenant in the path
 * gets 403 tenant_mismatch. Accepting an invitation is public: the token is the credential.
 */
@Controller()
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
@CallableBy('tenant', 'platform')
export class OperatorsController {
  constructor(@Inject(OperatorsHandler) private readonly operators: OperatorsHandler) {}

  @Get('tenants/:tenantId/operators')
  @Allow('users:read')
  list(@Param('tenantId') id: string): Promise<OperatorDto[]> {
    return this.operators.list(parseUuidParam(id, 'tenantId'));
  }

  @Post('tenants/:tenantId/operators')
  @HttpCode(201)
  @Allow('users:manage')
  invite(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<OperatorDto & { expiresAt: string }> {
    return this.operators.invite(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
  }

  @Patch('tenants/:tenantId/operators/:userId')
  @Allow('users:manage')
  update(@Param('tenantId') id: string, @Param('userId') userId: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<OperatorDto> {
    return this.operators.update(parseUuidParam(id, 'tenantId'), parseUuidParam(userId, 'userId'), body, actorOf(caller));
  }

  @Delete('tenants/:tenantId/operators/:userId')
  @HttpCode(204)
  @Allow('users:manage')
  async remove(@Param('tenantId') id: string, @Param('userId') userId: string, @CurrentCaller() caller: InternalCaller): Promise<void> {
    await this.operators.remove(parseUuidParam(id, 'tenantId'), parseUuidParam(userId, 'userId'), actorOf(caller));
  }

  /** Accepts an invitation (the link in the e-mail) and sets the password. */
  @Post('invitations/accept')
  @HttpCode(200)
  @CallableBy('anonymous', 'platform')
  accept(@Body() body: unknown): Promise<AcceptedInvitation> {
    return this.operators.accept(body);
  }
}
