import type { TenantId } from '@hotdash/contracts';
import { Databases } from './databases';

/** A tenant as the services other than provisioning need it: who it is, its status and its plan's limits. */
export interface TenantRecord {
  id: string;
  slug: string;
  name: string;
  status: 'provisioning' | 'active' | 'suspended' | 'offboarding' | 'offboarded';
  plan: {
    code: string;
    monthlyTicketQuota: number;
    rateLimitPerMinute: number;
    concurrencyLimit: number;
    knowledgeBaseBytes: number;
  };
}

const CACHE_LIMIT = 10_000;

/**
 * The one read of a tenant joined with its plan (tenants and plans belong to provisioning): one
 * statement on the control plane's typed layer (Databases.controlDb(), a prepared statement on the
 * driver pool), cached per process. Each caller says how old an answer it can use: the gateway's
 * rate limits take one of 30 s (plan changes reach them through Redis at once), while counting
 * money — quotas, the knowledge base's size — asks for a fresh one (`maxAgeMs: 0`), so a plan
 * change applies to the very next reservation.
 */
export class TenantDirectory {
  private readonly cache = new Map<string, { record: TenantRecord | undefined; at: number }>();

  constructor(private readonly dbs: Databases) {}

  /** The tenant and its plan; undefined for a tenant the control plane does not know. */
  of(tenantId: TenantId | string, options: { maxAgeMs: number }): Promise<TenantRecord | undefined> {
    return this.lookup(`id:${tenantId}`, 't.id', tenantId, options.maxAgeMs);
  }

  /** The tenant its users sign in as (the login slug, lower case), with its plan. */
  bySlug(slug: string, options: { maxAgeMs: number }): Promise<TenantRecord | undefined> {
    return this.lookup(`slug:${slug}`, 't.slug', slug, options.maxAgeMs);
  }

  /** Drops what is cached of one tenant (by id; its slug entry ages out), or of every tenant. */
  forget(tenantId?: TenantId | string): void {
    if (tenantId) this.cache.delete(`id:${tenantId}`);
    else this.cache.clear();
  }

  private async lookup(key: string, by: 't.id' | 't.slug', value: string, maxAgeMs: number): Promise<TenantRecord | undefined> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at <= maxAgeMs) return hit.record;
    const row = await this.dbs
      .controlDb()
      .selectFrom('tenants as t')
      .innerJoin('plans as p', 'p.code', 't.plan_code')
      .select(['t.id', 't.slug', 't.name', 't.status', 'p.code', 'p.monthly_ticket_quota', 'p.rate_limit_per_minute', 'p.concurrency_limit', 'p.knowledge_base_bytes'])
      .where(by, '=', value)
      .executeTakeFirst();
    const record: TenantRecord | undefined = row && {
      id: row.id,
      slug: row.slug,
      name: row.name,
      status: row.status as TenantRecord['status'],
      plan: {
        code: row.code,
        monthlyTicketQuota: row.monthly_ticket_quota,
        rateLimitPerMinute: row.rate_limit_per_minute,
        concurrencyLimit: row.concurrency_limit,
        knowledgeBaseBytes: Number(row.knowledge_base_bytes),
      },
    };
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, { record, at: Date.now() });
    return record;
  }
}
