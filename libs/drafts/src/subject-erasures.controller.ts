import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { SubjectErasureView } from '@hotdash/contracts';
import { Allow, CurrentPrincipal, InternalAuthGuard, Principal, TenantContextInterceptor } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { SubjectErasureService } from './subject-erasure';

/**
 * Erasure of one data subject (behind the gateway's /privacy/erasures; internal tokens only, the
 * tenant is the caller's): admins ask for it (data:erase) and follow it to its certificate.
 */
@Controller('internal/privacy/erasures')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
export class SubjectErasuresController {
  constructor(@Inject(SubjectErasureService) private readonly erasures: SubjectErasureService) {}

  /** 202 with the erasure (running); the subject's erasure already running answers 202 too, as it is. */
  @Post()
  @Allow('data:erase')
  async start(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply): Promise<SubjectErasureView> {
    const { erasure } = await this.erasures.start(p, body ?? {});
    void reply.status(202).header('location', `/privacy/erasures/${erasure.id}`);
    return erasure;
  }

  @Get(':id')
  @Allow('data:erase')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<SubjectErasureView> {
    return this.erasures.get(p, parseUuidParam(id));
  }
}
