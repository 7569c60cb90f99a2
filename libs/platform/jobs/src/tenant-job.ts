import { parseTenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import type { QueueName } from './queues';

/**
 * What every tenant job carries (DESIGN.md §5): the tenant, and the correlation of the request or
 * event that queued it (kept through the job into the events it publishes), with the event that
 * caused it when there is one.
 */
export interface TenantJobData {
  tenantId: string;
  correlationId?: string;
  causationId?: string | null;
}

/** The correlation to stamp on a job queued now: the event's or request's, else a new one. */
export function jobCorrelation(from: { correlationId?: string | null; id?: string } | undefined): { correlationId: string; causationId: string | null } {
  return { correlationId: from?.correlationId ?? newId(), causationId: from?.id ?? null };
}

/**
 * Runs a job's work in its tenant's context (the tenant id parsed from the job data, never assumed),
 * acting as the queue, with the job's correlation: withTenant then refuses any other tenant, and
 * what the job publishes carries the correlation of what queued it.
 */
export function inTenantJob<T>(queue: QueueName, data: TenantJobData, fn: () => Promise<T>): Promise<T> {
  return runInTenantContext({ tenantId: parseTenantId(data.tenantId), actorId: `job:${queue}`, correlationId: data.correlationId ?? newId() }, fn);
}
