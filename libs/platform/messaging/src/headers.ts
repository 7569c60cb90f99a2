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

/** Headers a dead-lettered record carries on top of its original ones. */
export const DlqHeaders = {
  ERROR: 'hotdash-dlq-error',
  ERROR_CODE: 'hotdash-dlq-error-code',
  CONSUMER: 'hotdash-dlq-consumer',
  ATTEMPTS: 'hotdash-dlq-attempts',
  ORIGINAL_TOPIC: 'hotdash-dlq-original-topic',
  ORIGINAL_PARTITION: 'hotdash-dlq-original-partition',
  ORIGINAL_OFFSET: 'hotdash-dlq-original-offset',
  FAILED_AT: 'hotdash-dlq-failed-at',
} as const;
