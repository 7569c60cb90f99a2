import { metrics as otelMetrics, ValueType, type Attributes, type Counter, type Histogram, type Meter, type ObservableResult } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { readSetting } from '@hotdash/platform-config';

/**
 * Metrics per service and per tenant (issue 17, item 2) through OpenTelemetry metrics, read by
 * Prometheus from each service's own ops-only port (HOTDASH_METRICS_PORT, by default the service's
 * port + 1000: `GET /metrics`), never from its API port nor through the gateway. Every series carries
 * `service_name`; those per tenant carry `tenant`, bounded: the first HOTDASH_METRICS_TENANT_LABELS
 * tenants a process sees keep their id, later ones count as `other` (a tenant id is a UUID, no
 * personal data; routes are templates, never raw URLs). Until startMetrics runs (specs, tools),
 * every recording below is a no-op.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant label: the id for the first `max` tenants seen, `other` beyond, `none` outside any tenant. */
export class TenantLabels {
  private readonly seen = new Set<string>();
  constructor(readonly max: number) {}

  of(tenantId: string | undefined | null): string {
    if (!tenantId) return 'none';
    if (!UUID.test(tenantId)) return 'invalid';
    const id = tenantId.toLowerCase();
    if (this.seen.has(id)) return id;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(id);
    return id;
  }
}

/** Buckets of request and job latency in seconds (OpenTelemetry's HTTP advice, and longer for jobs). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export type RefusalKind = 'rate-limit' | 'concurrency' | 'quota';
export type DraftOutcome = 'generated' | 'failed' | 'approved' | 'edited' | 'rejected';
export type JobOutcome = 'completed' | 'failed';

interface Instruments {
  meter: Meter;
  tenants: TenantLabels;
  httpDuration: Histogram;
  httpRequests: Counter;
  refusals: Counter;
  drafts: Counter;
  modelTokens: Counter;
  jobDuration: Histogram;
  jobWait: Histogram;
  jobs: Counter;
  retentionDeleted: Counter;
}

/** What a gauge's callback reports: each value with its labels. */
export type GaugeReading = { value: number; labels: Attributes }[];

let state: { provider: MeterProvider; exporter: PrometheusExporter; instruments: Instruments; gauges: Map<string, Set<() => Promise<GaugeReading> | GaugeReading>> } | undefined;

function instrumentsOf(meter: Meter, tenants: TenantLabels): Instruments {
  return {
    meter,
    tenants,
    httpDuration: meter.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'HTTP requests answered, by route template, method and status',
      advice: { explicitBucketBoundaries: HTTP_BUCKETS },
    }),
    httpRequests: meter.createCounter('hotdash.http.requests', { description: 'HTTP requests answered, per tenant, route template, method and status', valueType: ValueType.INT }),
    refusals: meter.createCounter('hotdash.refusals', { description: 'Requests refused by a rate limit, a concurrency limit or a quota, per tenant', valueType: ValueType.INT }),
    drafts: meter.createCounter('hotdash.drafts', { description: 'Drafts generated, failed, approved, edited and rejected, per tenant', valueType: ValueType.INT }),
    modelTokens: meter.createCounter('hotdash.model.tokens', { description: 'Language-model tokens used, per tenant and kind (prompt, completion)', valueType: ValueType.INT }),
    jobDuration: meter.createHistogram('hotdash.job.duration', { unit: 's', description: 'BullMQ job run time, by queue and outcome', advice: { explicitBucketBoundaries: JOB_BUCKETS } }),
    jobWait: meter.createHistogram('hotdash.job.wait', { unit: 's', description: 'BullMQ job latency: from queued (or due) to started, by queue', advice: { explicitBucketBoundaries: JOB_BUCKETS } }),
    jobs: meter.createCounter('hotdash.jobs', { description: 'BullMQ jobs finished, per tenant, queue and outcome', valueType: ValueType.INT }),
    retentionDeleted: meter.createCounter('hotdash.retention.deleted', { description: 'Delivered rows deleted past their retention by the relay\'s sweep, per database and store (outbox, inbox, mail)', valueType: ValueType.INT }),
  };
}

export interface MetricsSetup {
  service: string;
  /** The Prometheus endpoint's port (0: any free one); none: no endpoint. */
  port?: number;
  host?: string;
  tenantLabels?: number;
}

/**
 * Starts this process's metrics: a MeterProvider for the service and its Prometheus endpoint.
 * A port that cannot be bound is logged, not fatal: the service still serves. Returns the address.
 */
export async function startMetrics(setup: MetricsSetup): Promise<{ port: number } | undefined> {
  if (state) return undefined;
  const exporter = new PrometheusExporter({ port: setup.port ?? 0, host: setup.host, endpoint: '/metrics', preventServerStart: true, withResourceConstantLabels: /^service\.name$/ });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': setup.service, 'service.namespace': 'hotdash' }), readers: [exporter] });
  // Library instrumentations that record through the global API reach the same endpoint (unless an SDK registered one first).
  otelMetrics.setGlobalMeterProvider(provider);
  const meter = provider.getMeter('hotdash');
  const gauges = new Map<string, Set<() => Promise<GaugeReading> | GaugeReading>>();
  state = { provider, exporter, instruments: instrumentsOf(meter, new TenantLabels(setup.tenantLabels ?? 100)), gauges };
  if (setup.port === undefined) return undefined;
  try {
    await exporter.startServer();
    const address = (exporter as unknown as { _server: import('node:http').Server })._server.address();
    return { port: typeof address === 'object' && address ? address.port : setup.port };
  } catch (err) {
    console.error(`${setup.service}: metrics endpoint not started on port ${setup.port}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Starts metrics from the environment (runService): HOTDASH_METRICS_PORT (`off`: none), HOTDASH_BIND, HOTDASH_METRICS_TENANT_LABELS. */
export async function startServiceMetrics(service: string, servicePort: number, env: NodeJS.ProcessEnv = process.env): Promise<{ port: number } | undefined> {
  const configured = readSetting('HOTDASH_METRICS_PORT', env);
  if (configured === 'off') return undefined;
  const port = configured ?? servicePort + 1000;
  return startMetrics({ service, port, host: readSetting('HOTDASH_BIND', env), tenantLabels: readSetting('HOTDASH_METRICS_TENANT_LABELS', env) });
}

/** Stops the endpoint and drops the instruments (shutdown, specs). */
export async function stopMetrics(): Promise<void> {
  const s = state;
  state = undefined;
  if (s) await s.provider.shutdown().catch(() => undefined);
}

/** The Prometheus text of this process's metrics, as GET /metrics answers it (specs). */
export async function metricsText(): Promise<string> {
  const s = state;
  if (!s) return '';
  const { PrometheusSerializer } = await import('@opentelemetry/exporter-prometheus');
  const { resourceMetrics } = await s.exporter.collect();
  return new PrometheusSerializer(undefined, false, /^service\.name$/).serialize(resourceMetrics);
}

/** The label of a tenant id (bounded); `none` when metrics are off. */
export function tenantLabel(tenantId: string | undefined | null): string {
  return state ? state.instruments.tenants.of(tenantId) : 'none';
}

/** The recordings services make; each is a no-op until startMetrics ran. */
export const Metrics = {
  httpRequest(r: { route: string; method: string; status: number; seconds: number; tenantId?: string | null }): void {
    const i = state?.instruments;
    if (!i) return;
    i.httpDuration.record(r.seconds, { 'http.route': r.route, 'http.request.method': r.method, 'http.response.status_code': r.status });
    i.httpRequests.add(1, { tenant: i.tenants.of(r.tenantId), 'http.route': r.route, 'http.request.method': r.method, 'http.response.status_code': r.status });
  },

  /** A request refused by a limit: `code` is the problem's stable code (rate-limited, quota-exceeded, …), never free text. */
  refusal(tenantId: string | null | undefined, kind: RefusalKind, code: string): void {
    const i = state?.instruments;
    if (i) i.refusals.add(1, { tenant: i.tenants.of(tenantId), kind, code: code.slice(0, 60) });
  },

  draft(tenantId: string, outcome: DraftOutcome): void {
    const i = state?.instruments;
    if (i) i.drafts.add(1, { tenant: i.tenants.of(tenantId), outcome });
  },

  modelTokens(tenantId: string, usage: { promptTokens: number; completionTokens: number }): void {
    const i = state?.instruments;
    if (!i) return;
    const tenant = i.tenants.of(tenantId);
    i.modelTokens.add(Math.max(0, usage.promptTokens), { tenant, type: 'prompt' });
    i.modelTokens.add(Math.max(0, usage.completionTokens), { tenant, type: 'completion' });
  },

  /** A job finished: waited `waitSeconds` from queued (or due) to started, ran `runSeconds`. */
  job(r: { queue: string; tenantId?: string | null; outcome: JobOutcome; waitSeconds?: number; runSeconds?: number }): void {
    const i = state?.instruments;
    if (!i) return;
    i.jobs.add(1, { tenant: i.tenants.of(r.tenantId), queue: r.queue, outcome: r.outcome });
    if (r.runSeconds !== undefined && r.runSeconds >= 0) i.jobDuration.record(r.runSeconds, { queue: r.queue, outcome: r.outcome });
    if (r.waitSeconds !== undefined && r.waitSeconds >= 0) i.jobWait.record(r.waitSeconds, { queue: r.queue });
  },

  /** Rows the retention sweep deleted from one database's outbox, inbox or mail outbox. */
  retentionDeleted(database: string, store: 'outbox' | 'inbox' | 'mail', rows: number): void {
    const i = state?.instruments;
    if (i && rows > 0) i.retentionDeleted.add(rows, { database, store });
  },

  /**
   * Adds a reading to a gauge read at each scrape (queue depth, consumer lag, relay lag). Readings
   * that throw are skipped for that scrape. Returns what removes it.
   */
  gauge(name: GaugeName, read: () => Promise<GaugeReading> | GaugeReading): () => void {
    const s = state;
    if (!s) return () => undefined;
    let readers = s.gauges.get(name);
    if (!readers) {
      const set = new Set<() => Promise<GaugeReading> | GaugeReading>();
      readers = set;
      s.gauges.set(name, set);
      const g = s.instruments.meter.createObservableGauge(name, { ...GAUGES[name] });
      g.addCallback(async (result: ObservableResult) => {
        for (const r of set) {
          const reading = await Promise.resolve()
            .then(r)
            .catch(() => [] as GaugeReading);
          for (const { value, labels } of reading) result.observe(value, labels);
        }
      });
    }
    readers.add(read);
    return () => readers.delete(read);
  },
};

const GAUGES = {
  'hotdash.queue.depth': { description: 'BullMQ jobs per queue and state (waiting, active, delayed, prioritized, failed)', valueType: ValueType.INT },
  'hotdash.kafka.consumer.lag': { description: 'Records not yet handled per consumer group, topic and partition', valueType: ValueType.INT },
  'hotdash.relay.lag.events': { description: 'Outbox rows waiting to be published, per database', valueType: ValueType.INT },
  'hotdash.relay.lag.oldest': { unit: 's', description: 'Age of the oldest outbox row waiting to be published, per database' },
} as const;
export type GaugeName = keyof typeof GAUGES;
