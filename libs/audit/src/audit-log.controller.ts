import { Controller, Get, Inject, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { z } from 'zod';
import type { TenantId } from '@hotdash/contracts';
import { Allow, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { TenantDatabase } from '@hotdash/platform-db';
import { parseInput } from '@hotdash/platform-http';
import { currentTenantContext } from '@hotdash/platform-tenancy';
import { AuditLogRepository, AuditRow } from './audit-log.repository';
import { ChainVerification, VerifyAuditChainHandler } from './use-cases/verify-audit-chain/verify-audit-chain.handler';

const intString = (min: number, max: number) => z.string().regex(/^\d{1,12}$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));
export const auditQuery = z
  .object({
    after: intString(0, Number.MAX_SAFE_INTEGER).optional(),
    limit: intString(1, 500).optional(),
    eventType: z.string().min(1).max(100).optional(),
    actor: z.string().min(1).max(100).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export interface AuditPage {
  entries: AuditRow[];
  /** Pass as `after` for the next page; null at the end. */
  next: number | null;
}

/** The Node response under Express (itself) or Fastify (`raw`). */
type NodeResponse = NodeJS.WritableStream & { writeHead(status: number, headers: Record<string, string>): void; end(): void };
type Writable = NodeResponse | { raw: NodeResponse };

/**
 * A tenant's own audit log, for its admins (through the gateway, with an internal token): list and
 * filter by seq cursor, event type, actor and time; export everything as NDJSON; verify the chain.
 * The tenant is the caller's, from the token: there is no tenant parameter to get wrong.
 */
@Controller('internal/audit-log')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
@Allow('audit:read')
export class AuditLogController {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(AuditLogRepository) private readonly log: AuditLogRepository,
    @Inject(VerifyAuditChainHandler) private readonly verifier: VerifyAuditChainHandler,
  ) {}

  @Get()
  async list(@Query() query: unknown): Promise<AuditPage> {
    const q = parseInput(auditQuery, query);
    const tenantId = currentTenantContext().tenantId;
    const limit = q.limit ?? 100;
    const entries = await this.db.withTenant(tenantId, (tx) => this.log.search(tx, tenantId, { ...q, limit: limit + 1 }));
    const more = entries.length > limit;
    const page = entries.slice(0, limit);
    return { entries: page, next: more ? page[page.length - 1]!.seq : null };
  }

  @Get('verify')
  verify(): Promise<ChainVerification> {
    return this.verifier.execute(currentTenantContext().tenantId);
  }

  /** Every entry, oldest first, one JSON object per line; streamed page by page. */
  @Get('export')
  async export(@Res() res: Writable): Promise<void> {
    const tenantId: TenantId = currentTenantContext().tenantId;
    const out = 'raw' in res ? res.raw : res;
    out.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-disposition': `attachment; filename="audit-${tenantId}.ndjson"` });
    let after = 0;
    for (;;) {
      const page = await this.db.withTenant(tenantId, (tx) => this.log.page(tx, tenantId, after, 1_000));
      if (page.length) out.write(page.map((e) => JSON.stringify(e)).join('\n') + '\n');
      if (page.length < 1_000) break;
      after = page[page.length - 1]!.seq;
    }
    out.end();
  }
}
