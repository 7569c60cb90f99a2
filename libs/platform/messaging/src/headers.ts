import { Envelope, EventHeaders } from '@hotdash/contracts';

export function headersFor(e: Envelope): Record<string, string> {
  const h: Record<string, string> = {
    [EventHeaders.ID]: e.id,
    [EventHeaders.TYPE]: e.type,
    [EventHeaders.VERSION]: String(e.version),
    [EventHeaders.TENANT]: e.tenantId,
    [EventHeaders.CORRELATION]: e.correlationId,
  };
  if (e.traceparent) h[EventHeaders.TRACEPARENT] = e.traceparent;
  return h;
}
