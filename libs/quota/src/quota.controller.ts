import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { z } from 'zod';
import { Allow, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { parseInput, parseUuidParam, ProblemException } from '@hotdash/platform-http';
import { currentTenantContext } from '@hotdash/platform-tenancy';
import { QuotaService, Reservation, UsageReport } from './quota.service';

const MAX_DAYS = 366;
export const usageQuery = z
  .object({ from: z.iso.date().optional(), to: z.iso.date().optional() })
  .strict()
  .refine((q) => !q.from || !q.to || q.from <= q.to, 'from must not be after to');

export const reserveBody = z
  .object({
    metric: z.enum(['tickets', 'storage_bytes']),
    amount: z.number().int().positive().max(1_000_000_000_000),
    idempotencyKey: z.string().min(1).max(200).optional(),
    ttlSeconds: z.number().int().min(1).max(3600).optional(),
  })
  .strict();

/**
 * The quota service's API behind the gateway (internal tokens only; the tenant is the caller's):
 * usage per day for the admin portal, and reservations for the services that consume quota.
 */
@Controller('internal')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
export class QuotaController {
  constructor(@Inject(QuotaService) private readonly quota: QuotaService) {}

  /** Usage per day and metric (default: the last 30 days) and the current quotas. */
  @Get('usage')
  @Allow('usage:read')
  usage(@Query() query: unknown): Promise<UsageReport> {
    const q = parseInput(usageQuery, query);
    const to = q.to ?? new Date().toISOString().slice(0, 10);
    const from = q.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10);
    if (Date.parse(to) - Date.parse(from) > MAX_DAYS * 86_400_000)
      throw new ProblemException(400, 'validation-failed', 'Invalid request', `Ask for at most ${MAX_DAYS} days at a time.`);
    return this.quota.usage(currentTenantContext().tenantId, from, to);
  }

  @Post('reservations')
  @Allow('tickets:create')
  @HttpCode(201)
  reserve(@Body() body: unknown): Promise<Reservation> {
    const input = parseInput(reserveBody, body, (path) => (path === 'metric' ? 'invalid-metric' : undefined));
    const ctx = currentTenantContext();
    return this.quota.reserve(ctx.tenantId, input.metric, input.amount, { idempotencyKey: input.idempotencyKey, ttlMs: input.ttlSeconds ? input.ttlSeconds * 1000 : undefined, correlationId: ctx.correlationId });
  }

  @Post('reservations/:id/commit')
  @Allow('tickets:create')
  @HttpCode(200)
  commit(@Param('id') id: string): Promise<Reservation> {
    return this.quota.commit(currentTenantContext().tenantId, parseUuidParam(id), currentTenantContext().correlationId);
  }

  @Post('reservations/:id/release')
  @Allow('tickets:create')
  @HttpCode(200)
  release(@Param('id') id: string): Promise<Reservation> {
    return this.quota.release(currentTenantContext().tenantId, parseUuidParam(id));
  }
}
