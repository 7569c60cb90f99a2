import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Patch, Post } from '@nestjs/common';
import { parseHeader, parseUuidParam } from '@hotdash/platform-http';
import { OperatorDto, OperatorsHandler } from './use-cases/operators/operators.handler';

const ACTOR_HEADER = 'x-hotdash-actor';

const actorOf = (v: string | undefined): string => parseHeader(v, ACTOR_HEADER, 'ops:unknown');

/** A tenant's operators (tenant admins manage them; the gateway will front this with their identity). */
@Controller()
export class OperatorsController {
  constructor(@Inject(OperatorsHandler) private readonly operators: OperatorsHandler) {}

  @Get('tenants/:id/operators')
  list(@Param('id') id: string): Promise<OperatorDto[]> {
    return this.operators.list(parseUuidParam(id));
  }

  @Post('tenants/:id/operators')
  @HttpCode(201)
  invite(@Param('id') id: string, @Body() body: unknown, @Headers(ACTOR_HEADER) actor?: string): Promise<OperatorDto & { expiresAt: string }> {
    return this.operators.invite(parseUuidParam(id), body, actorOf(actor));
  }

  @Patch('tenants/:id/operators/:userId')
  changeRole(@Param('id') id: string, @Param('userId') userId: string, @Body() body: unknown, @Headers(ACTOR_HEADER) actor?: string): Promise<OperatorDto> {
    return this.operators.changeRole(parseUuidParam(id), parseUuidParam(userId, 'userId'), body, actorOf(actor));
  }

  @Delete('tenants/:id/operators/:userId')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Param('userId') userId: string, @Headers(ACTOR_HEADER) actor?: string): Promise<void> {
    await this.operators.remove(parseUuidParam(id), parseUuidParam(userId, 'userId'), actorOf(actor));
  }

  /** Accepts an invitation (the link in the e-mail) and sets the password. */
  @Post('invitations/accept')
  @HttpCode(200)
  accept(@Body() body: unknown): Promise<{ tenantId: string; userId: string }> {
    return this.operators.accept(body);
  }
}
