import { SpanKind, type Attributes, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import { TENANT_ID_ATTRIBUTE } from './trace-context';

/** Traces whose tenant a process remembers (the most recent ones; about 100 bytes each). */
const REMEMBERED_TRACES = 10_000;
/** Traces whose spans wait for their tenant, and spans per trace: past these the oldest go on without one. */
const HELD_TRACES = 1_000;
const HELD_SPANS_PER_TRACE = 500;

/** A span whose parent is in another process (or that has none): the last of its trace to end here. */
function isLocalRoot(span: ReadableSpan): boolean {
  return !span.parentSpanContext || span.parentSpanContext.isRemote === true;
}

/**
 * Stamps `tenant.id` on spans and scrubs them of personal data before they reach `next` (the
 * batch processor and its exporter). A span started inside a tenant context (libs/platform/tenancy:
 * set from the credential, the event's envelope or the job's data) gets the tenant at once, and
 * its trace is remembered as that tenant's: a trace is one piece of work, for one tenant. Spans that
 * end before their trace's tenant is known (the credential check, the framework's hooks) wait here
 * until it is, or until the trace's local root span (the HTTP server span) ends, and go on then.
 */
export class TenantSpanProcessor implements SpanProcessor {
  private readonly tenants = new Map<string, string>();
  private readonly held = new Map<string, ReadableSpan[]>();

  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parent: Context): void {
    const given = span.attributes[TENANT_ID_ATTRIBUTE];
    const tenantId = typeof given === 'string' ? given : tryCurrentTenantContext()?.tenantId;
    if (tenantId) {
      if (given === undefined) span.setAttribute(TENANT_ID_ATTRIBUTE, tenantId);
      this.remember(span.spanContext().traceId, tenantId);
    }
    this.next.onStart(span, parent);
  }

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const own = span.attributes[TENANT_ID_ATTRIBUTE];
    const tenantId = typeof own === 'string' ? own : this.tenants.get(traceId);
    if (tenantId === undefined && !isLocalRoot(span)) return this.hold(traceId, span);
    this.forward(span, tenantId);
    if (isLocalRoot(span)) this.release(traceId);
  }

  /** The tenant of a trace this process has seen tenant work in. */
  tenantOf(traceId: string): string | undefined {
    return this.tenants.get(traceId);
  }

  private forward(span: ReadableSpan, tenantId: string | undefined): void {
    this.next.onEnd(scrubSpan(span, tenantId));
  }

  private hold(traceId: string, span: ReadableSpan): void {
    const spans = this.held.get(traceId);
    if (spans && spans.length < HELD_SPANS_PER_TRACE) return void spans.push(span);
    if (spans) return this.forward(span, undefined);
    this.held.set(traceId, [span]);
    if (this.held.size > HELD_TRACES) this.release(this.held.keys().next().value!);
  }

  private release(traceId: string): void {
    const spans = this.held.get(traceId);
    if (!spans) return;
    this.held.delete(traceId);
    const tenantId = this.tenants.get(traceId);
    for (const s of spans) this.forward(s, tenantId);
  }

  private remember(traceId: string, tenantId: string): void {
    if (this.tenants.get(traceId) !== tenantId) {
      this.tenants.delete(traceId);
      this.tenants.set(traceId, tenantId);
      if (this.tenants.size > REMEMBERED_TRACES) this.tenants.delete(this.tenants.keys().next().value!);
    }
    this.release(traceId);
  }

  forceFlush(): Promise<void> {
    for (const traceId of [...this.held.keys()]) this.release(traceId);
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    for (const traceId of [...this.held.keys()]) this.release(traceId);
    this.tenants.clear();
    return this.next.shutdown();
  }
}

// What a span may not carry out of the process: the query string of a URL (search terms, tokens,
// e-mail addresses), the caller's address and user agent on server spans, a statement's bound values.
const URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target', 'url.original'];
const DROPPED = new Set(['url.query', 'db.postgresql.values', 'db.statement.values']);
const DROPPED_PREFIXES = ['db.query.parameter.', 'http.request.header.', 'http.response.header.', 'messaging.kafka.message.key'];
const DROPPED_ON_SERVER = new Set([
  'client.address',
  'client.port',
  'http.client_ip',
  'net.peer.ip',
  'net.peer.port',
  'net.sock.peer.addr',
  'net.sock.peer.port',
  'network.peer.address',
  'network.peer.port',
  'user_agent.original',
  'http.user_agent',
]);

/** Whether an attribute may not leave the process as it is (dropped, or a URL with a query). */
function mustScrub(key: string, value: unknown, kind: SpanKind): boolean {
  if (DROPPED.has(key) || DROPPED_PREFIXES.some((p) => key.startsWith(p))) return true;
  if (kind === SpanKind.SERVER && DROPPED_ON_SERVER.has(key)) return true;
  return URL_ATTRIBUTES.includes(key) && typeof value === 'string' && /[?#]/.test(value);
}

/** A span's attributes without personal data, with its tenant. */
export function scrubAttributes(attributes: Attributes, kind: SpanKind, tenantId: string | undefined): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (DROPPED.has(key) || DROPPED_PREFIXES.some((p) => key.startsWith(p))) continue;
    if (kind === SpanKind.SERVER && DROPPED_ON_SERVER.has(key)) continue;
    out[key] = URL_ATTRIBUTES.includes(key) && typeof value === 'string' ? withoutQuery(value) : value;
  }
  if (tenantId && out[TENANT_ID_ATTRIBUTE] === undefined) out[TENANT_ID_ATTRIBUTE] = tenantId;
  return out;
}

function withoutQuery(url: string): string {
  const i = url.search(/[?#]/);
  return i < 0 ? url : url.slice(0, i);
}

/** An exception event keeps its type and where it was thrown; its message (it can quote data) goes. */
function scrubEvents(events: ReadableSpan['events']): ReadableSpan['events'] {
  return events.map((e) => {
    if (!e.attributes) return e;
    const attributes: Attributes = {};
    for (const [k, v] of Object.entries(e.attributes)) {
      if (k === 'exception.message') continue;
      attributes[k] = k === 'exception.stacktrace' && typeof v === 'string' ? v.split('\n').filter((l) => /^\s+at /.test(l)).join('\n') : v;
    }
    return { ...e, attributes };
  });
}

/** An error status message that is endSpan's class and code, nothing quoted. */
const STATUS_MESSAGE = /^[A-Za-z][\w$]*( \([\w.-]+\))?$/;

/**
 * The span as it may leave the process: scrubbed (scrubAttributes; exception messages and error
 * statuses' messages removed, endSpan's class-and-code kept) and with its trace's tenant when it had
 * none of its own.
 */
export function scrubSpan(s: ReadableSpan, tenantId: string | undefined): ReadableSpan {
  const cleanStatus = !s.status.message || STATUS_MESSAGE.test(s.status.message);
  // Most spans (a query's, a command's) carry nothing to scrub: they go on as they are, with the
  // tenant stamped in place (the span has ended: nothing else writes its attributes now).
  if (cleanStatus && s.events.length === 0 && !Object.entries(s.attributes).some(([k, v]) => mustScrub(k, v, s.kind))) {
    if (tenantId && s.attributes[TENANT_ID_ATTRIBUTE] === undefined) (s.attributes as Attributes)[TENANT_ID_ATTRIBUTE] = tenantId;
    return s;
  }
  const status = cleanStatus ? s.status : { code: s.status.code };
  return {
    name: s.name,
    kind: s.kind,
    spanContext: () => s.spanContext(),
    parentSpanContext: s.parentSpanContext,
    startTime: s.startTime,
    endTime: s.endTime,
    status,
    attributes: scrubAttributes(s.attributes, s.kind, tenantId),
    links: s.links,
    events: scrubEvents(s.events),
    duration: s.duration,
    ended: s.ended,
    resource: s.resource,
    instrumentationScope: s.instrumentationScope,
    droppedAttributesCount: s.droppedAttributesCount,
    droppedEventsCount: s.droppedEventsCount,
    droppedLinksCount: s.droppedLinksCount,
  };
}
