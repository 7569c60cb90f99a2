import { parseTenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { contextFromTraceparent, currentTraceparent, inSpan, SpanKind, TENANT_ID_ATTRIBUTE } from '@hotdash/platform-telemetry';
import type { QueueName } from './queues';

/**
 * What every tenant job carries (DESIGN.md §5): the tenant, and the correlation of the request or
 * event that queued it (kept through the job into the events it publishes), with the event that
 * caused it when there is one, and the trace it continues (W3C traceparent; absent while tracing
 * is off).
 */
export interface TenantJobData {
  tenantId: string;
  correlationId?: string;
  causationId?: string | null;
  traceparent?: string | null;
}

/** The correlation to stamp on a job queued now: the event's or request's, else a new one; and the active trace, when tracing is on. */
export function jobCorrelation(from: { correlationId?: string | null; id?: string } | undefined): { correlationId: string; causationId: string | null; traceparent?: string } {
  return { correlationId: from?.correlationId ?? newId(), causationId: from?.id ?? null, ...jobTrace() };
}

/** `{ traceparent }` of the active span for a job queued now, so the job's span continues its trace; `{}` while tracing is off. */
export function jobTrace(): { traceparent?: string } {
  const traceparent = currentTraceparent();
  return traceparent ? { traceparent } : {};
}

/**
 * Runs a job's work in its tenant's context (the tenant id parsed from the job data, never assumed),
 * acting as the queue, with the job's correlation: withTenant then refuses any other tenant, and
 * what the job publishes carries the correlation of what queued it. The work runs in a span (kind
 * consumer) whose parent is the span that queued the job (its data's traceparent).
 */
export function inTenantJob<T>(queue: QueueName, data: TenantJobData, fn: () => Promise<T>): Promise<T> {
  const tenantId = parseTenantId(data.tenantId);
  return runInTenantContext({ tenantId, actorId: `job:${queue}`, correlationId: data.correlationId ?? newId() }, () =>
    inSpan(
      `process ${queue}`,
      {
        kind: SpanKind.CONSUMER,
        parent: contextFromTraceparent(data.traceparent),
        attributes: { [TENANT_ID_ATTRIBUTE]: tenantId, 'messaging.system': 'bullmq', 'messaging.operation.type': 'process', 'messaging.destination.name': queue },
      },
      fn,
    ),
  );
}
