import { CustomTransportStrategy, EventPattern as NestEventPattern, Server } from '@nestjs/microservices';
import { defaultIfEmpty, isObservable, lastValueFrom } from 'rxjs';
import { DlqHeaders, Envelope, envelopeSchema, EventHeaders, EventType, parseTenantId, TenantId, payloadSchemaOf, topicOf, isKnownEventType, deadLetterTopic } from '@hotdash/contracts';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { TenantDatabase, TenantTx, ShardInfo } from '@hotdash/platform-db';
import { TenantNotPlacedError } from '@hotdash/platform-db';
import type { IncomingRecord, KafkaClientPort, KafkaConsumerPort, KafkaProducerPort } from './kafka/kafka.port';
import { NonRetryableError } from './errors';
import { isDatabaseContention, isStoreUnavailable } from '@hotdash/platform-config';
import { bindToActiveContext, contextFromTraceparent, inSpan, SpanKind, TENANT_ID_ATTRIBUTE } from '@hotdash/platform-telemetry';

/** Longest wait between two tries of an event while a store is down. */
const OUTAGE_BACKOFF_MAX_MS = 2_000;
/**
 * Times one event waits out database contention without using an attempt: 60, minutes in all (up to
 * 2 s between tries, and on the embedded databases each try itself waits up to 10 s for its turn).
 */
const MAX_CONTENTION_WAITS = 60;

/**
 * `@EventPattern(type)` (or a list of types) for the platform's events: Nest's decorator, typed for handlers of
 * contracts event types. Nest 12 types its own as applying to `(data, ...args: unknown[])` methods only, which
 * refuses a handler whose second parameter is the EventContext.
 */
export const EventPattern = NestEventPattern as (type: EventType | EventType[]) => MethodDecorator;

/** Second argument of every @EventPattern handler. */
export interface EventContext {
  /** The transaction the handler's writes go in, together with the inbox row: both commit or neither. */
  tx: TenantTx;
  shard: ShardInfo;
  envelope: Envelope;
  attempt: number;
  record: IncomingRecord;
  /**
   * Runs `fn` once the handler's transaction (with its inbox row) has committed; never when it rolls
   * back (a retry registers its own). For work outside the database that must only follow a
   * committed effect, such as queueing a job for a row the handler wrote. A failing callback is
   * logged and does not fail the event: it is not retried, so whatever it does needs a recovery
   * path of its own (a sweep).
   */
  afterCommit(fn: () => Promise<unknown> | void): void;
  /**
   * Runs `fn` in the handler's transaction once every handler of the transaction has run (a
   * tenant's group of a batch, or one event replayed alone), just before the commit. For handlers
   * that gather their events' effects and write them at once (audit appends a group's entries in one
   * statement). A failing callback fails the transaction like a failing handler: the group rolls
   * back and its events are replayed one at a time, each registering its own callback.
   */
  beforeCommit(fn: () => Promise<unknown> | void): void;
}

export interface EventTransportOptions {
  /** Consumer name: the Kafka consumer group and the inbox's consumer column. */
  consumer: string;
  kafka: KafkaClientPort;
  tenantDb: TenantDatabase;
  /** Attempts before an event is dead-lettered (default 5). */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt (default 100 ms). */
  backoffMs?: number;
  /** Where a new consumer group starts: the topic's beginning (default) or only new records. */
  fromBeginning?: boolean;
  /**
   * What to do with an event whose tenant has no placement once its tries are used up (the tenant
   * may be moments from being placed, so it is retried first): dead-letter it (default) or skip it
   * (for consumers such as audit, which also hear of tenants whose provisioning was undone).
   */
  unknownTenant?: 'dead-letter' | 'skip';
  /**
   * An event of a tenant that is not placed is retried maxAttempts times, then skipped or
   * dead-lettered. An event older than this (default 30 s: a replay, a tenant whose provisioning
   * was undone) is final at once, so a consumer catching up does not wait on each of them.
   */
  unknownTenantGraceMs?: number;
  /**
   * True when an unplaced tenant is about to be placed (its provisioning saga is running): its
   * events keep being retried past maxAttempts, for as long as they are younger than
   * unknownTenantGraceMs (backoff at most 1 s), instead of being skipped while the saga catches up.
   */
  awaitPlacement?: (tenantId: TenantId) => Promise<boolean>;
  /**
   * Events of tenants this returns true for are skipped (logged, offset committed, nothing
   * written): consumers doing work for tenants skip suspended tenants' new work; audit skips tenants
   * being offboarded, whose data is being erased.
   */
  skipTenant?: (tenantId: TenantId) => Promise<boolean>;
  /** Tenants whose events are applied concurrently within a batch (default 8). */
  tenantConcurrency?: number;
  /** Kafka session timeout: how long a dead consumer keeps its partitions (default 10 s; broker minimum 6 s). */
  sessionTimeoutMs?: number;
  log?: (msg: string) => void;
}

interface Item {
  envelope: Envelope;
  record: IncomingRecord;
  handler: NonNullable<ReturnType<Server['getHandlerByPattern']>>;
}

/** A callback registered with ctx.afterCommit(), with the event it came from. */
interface AfterCommit {
  envelope: Envelope;
  fn: () => Promise<unknown> | void;
}

function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'object' && err && 'message' in err) return new Error(String((err as { message: unknown }).message));
  return new Error(String(err));
}

class DeadLetter extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Nest custom transport over Kafka. Handlers are `@EventPattern('tenant.created')` methods. For each
 * record it validates the envelope and the payload against libs/contracts, enters the tenant
 * context, and runs the handler inside withTenant() together with the inbox insert: an event's
 * effects apply exactly once however often Kafka delivers it. Failures retry with exponential
 * backoff; after maxAttempts (or at once for invalid events) the record goes to `<topic>.dlq` with
 * its original headers and the error, and the partition moves on.
 */
export class KafkaEventTransport extends Server implements CustomTransportStrategy {
  private consumerPort?: KafkaConsumerPort;
  private dlqProducer?: KafkaProducerPort;
  private closing = false;

  constructor(private readonly options: EventTransportOptions) {
    super();
  }

  /** Event types this process handles, and so the topics it subscribes to. */
  handledTypes(): EventType[] {
    return [...this.messageHandlers.keys()].filter(isKnownEventType);
  }

  async listen(callback: (...optionalParams: unknown[]) => unknown): Promise<void> {
    try {
      const unknown = [...this.messageHandlers.keys()].filter((k) => !isKnownEventType(k));
      if (unknown.length) throw new Error(`@EventPattern for unknown event types: ${unknown.join(', ')} (add them to libs/contracts)`);
      const topics = [...new Set(this.handledTypes().map(topicOf))];
      this.dlqProducer = await this.options.kafka.producer();
      if (topics.length) {
        this.consumerPort = await this.options.kafka.consumer({ groupId: this.options.consumer, topics, fromBeginning: this.options.fromBeginning ?? true, sessionTimeoutMs: this.options.sessionTimeoutMs, onError: (e) => this.options.log?.(`[${this.options.consumer}] consumer error: ${e.message}`) });
        await this.consumerPort.run((records) => this.handleBatch(records));
      }
      callback();
    } catch (err) {
      callback(err);
    }
  }

  async close(): Promise<void> {
    this.closing = true; // an event waiting for a store gives up (uncommitted: it is delivered again)
    await this.consumerPort?.close();
    await this.dlqProducer?.close();
  }

  on(): never {
    throw new Error('KafkaEventTransport does not emit transport events');
  }

  unwrap<T>(): T {
    return this.options.kafka as T;
  }

  /**
   * Handles a batch end to end (never rejects for a bad event). Records are grouped by tenant: each
   * tenant's records are applied in order, in one withTenant() transaction with one multi-row inbox
   * insert; different tenants run concurrently. When a handler fails, the group's transaction rolls
   * back and its events are replayed one at a time, so only the failing event retries and, in the
   * end, is dead-lettered.
   */
  async handleBatch(records: IncomingRecord[]): Promise<void> {
    const groups = new Map<string, Item[]>();
    for (const record of records) {
      // A record whose type header names an event this consumer has no handler for is not even
      // parsed: topics carry several types (drafts hears every ticket.received on the tickets topic
      // for its ticket.submitted), and the consumers that handle the type validate it (and
      // dead-letter it when invalid). Records without the header are decoded to find their type.
      const headerType = record.headers[EventHeaders.TYPE];
      if (headerType !== undefined && !this.handlerOf(headerType)) continue;
      let envelope: Envelope;
      try {
        envelope = this.decode(record);
      } catch (err) {
        const e = err as DeadLetter;
        await this.deadLetter(record, e.code ?? 'invalid-event', e.message, 1);
        continue;
      }
      const handler = this.handlerOf(envelope.type);
      if (!handler) continue; // an event this consumer does not care about
      groups.set(envelope.tenantId, [...(groups.get(envelope.tenantId) ?? []), { envelope, record, handler }]);
    }
    const queue = [...groups.values()];
    const workers = Array.from({ length: Math.min(this.options.tenantConcurrency ?? 8, queue.length) }, async () => {
      for (let g = queue.shift(); g; g = queue.shift()) await this.handleTenantGroup(g);
    });
    await Promise.all(workers);
  }

  private async handleTenantGroup(items: Item[]): Promise<void> {
    const tenantId = parseTenantId(items[0]!.envelope.tenantId);
    if (this.options.skipTenant && (await this.whileStoresDown(() => this.options.skipTenant!(tenantId)))) {
      this.options.log?.(`[${this.options.consumer}] skipping ${items.length} event(s) of tenant ${tenantId}: ${items.map((i) => i.envelope.type).join(', ')}`);
      return;
    }
    let failed: { id: string; error: unknown } | undefined;
    const after: AfterCommit[] = [];
    try {
      await this.inTenant(items[0]!.envelope, (tx, shard) => this.applyGroup(tx, shard, tenantId, items, after, (id, error) => (failed = { id, error })));
    } catch (err) {
      if (!failed) failed = { id: '', error: err }; // the transaction itself failed (database trouble)
    }
    if (!failed) {
      await this.runAfterCommit(after);
      return;
    }
    // Rolled back: the callbacks registered in it are dropped; each event replayed registers its own.
    for (const item of items) {
      const isFailed = item.envelope.id === failed.id;
      await this.handleOne(item, isFailed ? 2 : 1, isFailed ? failed.error : undefined);
    }
  }

  private async applyGroup(tx: TenantTx, shard: ShardInfo, tenantId: TenantId, items: Item[], after: AfterCommit[], onFail: (id: string, error: unknown) => void): Promise<void> {
    // One row per event (a batch holds at most the consumer's maxBatch records); an event twice in the batch once.
    const ids = [...new Set(items.map((i) => i.envelope.id))];
    const inserted = await tx.db
      .insertInto('inbox')
      .values(ids.map((id) => ({ tenant_id: tenantId, consumer: this.options.consumer, event_id: id })))
      .onConflict((oc) => oc.doNothing())
      .returning('event_id')
      .execute();
    const fresh = new Set(inserted.map((r) => r.event_id));
    const before: (() => Promise<unknown> | void)[] = [];
    for (const item of items) {
      if (!fresh.delete(item.envelope.id)) continue; // already applied (a redelivery), or twice in this batch
      try {
        await this.invoke(item, tx, shard, 1, after, before);
      } catch (err) {
        onFail(item.envelope.id, err);
        throw err;
      }
    }
    for (const fn of before) await fn();
  }

  /** One event in its own transaction, with retries, then the dead-letter topic. */
  private async handleOne(item: Item, firstAttempt: number, priorError?: unknown): Promise<void> {
    const { envelope, record } = item;
    const tenantId = parseTenantId(envelope.tenantId);
    const maxAttempts = this.options.maxAttempts ?? 5;
    let error = priorError;
    let outageWaits = 0;
    let contentionWaits = 0;
    for (let attempt = firstAttempt; ; attempt++) {
      const contended = error !== undefined && isDatabaseContention(error) && contentionWaits < MAX_CONTENTION_WAITS;
      if (error !== undefined && (isStoreUnavailable(error) || contended)) {
        if (this.closing) throw error;
        // A store is down (the database restarting, Redis or Weaviate unreachable): the event waits
        // for it, for as long as it takes, and the wait uses none of its attempts: an outage must
        // not turn events into dead letters. The partition holds still meanwhile, in order.
        // Contention (a lock, or the embedded database's one transaction at a time, held by a long
        // restore or export) waits the same way, MAX_CONTENTION_WAITS times; then it counts as a
        // failed attempt, so a handler that deadlocks with itself still ends in the dead letters.
        if (contended) contentionWaits++;
        if (outageWaits % 10 === 0) this.options.log?.(`[${this.options.consumer}] ${envelope.type} ${envelope.id} waits for ${contended ? 'the database (contention)' : 'a store'}: ${toError(error).message}`);
        await this.outagePause(outageWaits++);
        attempt--;
      } else if (error !== undefined) {
        outageWaits = 0;
        const e = toError(error);
        const unplaced = e instanceof TenantNotPlacedError;
        const young = unplaced && Date.now() - Date.parse(envelope.occurredAt) <= (this.options.unknownTenantGraceMs ?? 30_000);
        const fatal = e instanceof NonRetryableError || (unplaced && !young);
        const awaited = young && attempt > maxAttempts && this.options.awaitPlacement ? await this.options.awaitPlacement(tenantId).catch(() => false) : false;
        if (fatal || (attempt > maxAttempts && !awaited)) {
          if (e instanceof TenantNotPlacedError && this.options.unknownTenant === 'skip') {
            this.options.log?.(`[${this.options.consumer}] skipping ${envelope.type} ${envelope.id}: ${e.message}`);
            return;
          }
          const code = e instanceof NonRetryableError ? e.code : e instanceof TenantNotPlacedError ? 'unknown-tenant' : 'handler-failed';
          await this.deadLetter(record, code, e.message, attempt - 1);
          return;
        }
        this.options.log?.(`[${this.options.consumer}] ${envelope.type} ${envelope.id} attempt ${attempt - 1}/${maxAttempts} failed: ${e.message}`);
        const delay = (this.options.backoffMs ?? 100) * 2 ** Math.min(attempt - 2, 20);
        await new Promise((r) => setTimeout(r, unplaced ? Math.min(delay, 1_000) : delay));
      }
      const after: AfterCommit[] = [];
      error = undefined;
      try {
        await this.inTenant(envelope, async (tx, shard) => {
          const inserted = await tx.db
            .insertInto('inbox')
            .values({ tenant_id: tenantId, consumer: this.options.consumer, event_id: envelope.id })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return; // already applied: a redelivery
          const before: (() => Promise<unknown> | void)[] = [];
          await this.invoke(item, tx, shard, attempt, after, before);
          for (const fn of before) await fn();
        });
      } catch (err) {
        error = err;
        continue; // rolled back: this attempt's callbacks are dropped
      }
      await this.runAfterCommit(after);
      return;
    }
  }

  /** The wait before the `waits`-th next try while a store is down: the retry backoff, doubling, at most OUTAGE_BACKOFF_MAX_MS. */
  private outagePause(waits: number): Promise<void> {
    return new Promise((r) => setTimeout(r, Math.min((this.options.backoffMs ?? 100) * 2 ** Math.min(waits, 20), OUTAGE_BACKOFF_MAX_MS)));
  }

  /** Runs `fn` again while it fails because a store is down (the tenant-status lookup, in the control database). */
  private async whileStoresDown<T>(fn: () => Promise<T>): Promise<T> {
    for (let waits = 0; ; waits++) {
      try {
        return await fn();
      } catch (err) {
        if (!isStoreUnavailable(err) || this.closing) throw err;
        if (waits % 10 === 0) this.options.log?.(`[${this.options.consumer}] waits for a store: ${toError(err).message}`);
        await this.outagePause(waits);
      }
    }
  }

  private inTenant(envelope: Envelope, fn: (tx: TenantTx, shard: ShardInfo) => Promise<void>): Promise<void> {
    const tenantId = parseTenantId(envelope.tenantId);
    return runInTenantContext({ tenantId, actorId: `event:${envelope.producer}`, correlationId: envelope.correlationId }, () =>
      this.options.tenantDb.withTenant(tenantId, fn),
    );
  }

  /**
   * Runs the event's handler in a consumer span whose parent is the span that sent the record (its
   * `traceparent` header, else the envelope's): one trace follows the work across services. The
   * callbacks it registers stay in that span's trace.
   */
  private async invoke(item: Item, tx: TenantTx, shard: ShardInfo, attempt: number, after: AfterCommit[], before: (() => Promise<unknown> | void)[]): Promise<void> {
    const { envelope, record } = item;
    const span = {
      kind: SpanKind.CONSUMER,
      parent: contextFromTraceparent(record.headers[EventHeaders.TRACEPARENT] ?? envelope.traceparent),
      attributes: {
        [TENANT_ID_ATTRIBUTE]: envelope.tenantId,
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': record.topic,
        'messaging.consumer.group.name': this.options.consumer,
        'messaging.message.id': envelope.id,
        'hotdash.event.type': envelope.type,
        'hotdash.event.attempt': attempt,
      },
    };
    await inSpan(`process ${envelope.type}`, span, async () => {
      const ctx: EventContext = {
        tx,
        shard,
        envelope,
        attempt,
        record,
        afterCommit: (fn) => void after.push({ envelope, fn: bindToActiveContext(fn) }),
        beforeCommit: (fn) => void before.push(bindToActiveContext(fn)),
      };
      // What Nest's handler gives back, resolved: an observable (interceptors) is run to its end.
      const result: unknown = await item.handler(envelope, ctx);
      if (isObservable(result)) await lastValueFrom(result.pipe(defaultIfEmpty(undefined)));
    });
  }

  /**
   * The handler of an event type. An event type is its own route (Nest's getHandlerByPattern first
   * tries the pattern as JSON, which throws for every type: per record, that was the costliest step
   * of skipping or dispatching it).
   */
  private handlerOf(type: string): Item['handler'] | null {
    return this.messageHandlers.get(type) ?? null;
  }

  /**
   * Runs the callbacks of a committed transaction, in the order they were registered, each in its
   * event's tenant context. A failure is logged (tenant, event, error; never the payload) and goes
   * no further: the event's effects are committed and its offset will be, so it is not redelivered.
   */
  private async runAfterCommit(after: AfterCommit[]): Promise<void> {
    for (const { envelope, fn } of after) {
      try {
        await runInTenantContext({ tenantId: parseTenantId(envelope.tenantId), actorId: `event:${envelope.producer}`, correlationId: envelope.correlationId }, async () => fn());
      } catch (err) {
        this.options.log?.(`[${this.options.consumer}] after-commit callback of ${envelope.type} ${envelope.id} (tenant ${envelope.tenantId}) failed: ${toError(err).message}`);
      }
    }
  }

  private decode(record: IncomingRecord): Envelope {
    let json: unknown;
    try {
      json = JSON.parse(record.value.toString('utf8'));
    } catch {
      throw new DeadLetter('malformed-json', 'record value is not JSON');
    }
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) throw new DeadLetter('invalid-envelope', `invalid envelope: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const env = parsed.data as Envelope;
    const headerType = record.headers[EventHeaders.TYPE];
    if (headerType !== undefined && headerType !== env.type) throw new DeadLetter('invalid-envelope', `the type header ${JSON.stringify(headerType)} does not match the envelope's type ${JSON.stringify(env.type)}`);
    if (!isKnownEventType(env.type)) return env; // unknown types are skipped by handleBatch (no handler)
    const schema = payloadSchemaOf(env.type, env.version);
    if (!schema) throw new DeadLetter('unknown-version', `${env.type} version ${env.version} is not known to this consumer`);
    const payload = schema.safeParse(env.payload);
    if (!payload.success) throw new DeadLetter('invalid-payload', `invalid ${env.type} v${env.version} payload: ${payload.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { ...env, payload: payload.data };
  }

  private async deadLetter(record: IncomingRecord, code: string, message: string, attempts: number): Promise<void> {
    this.options.log?.(`[${this.options.consumer}] dead-lettering ${record.topic}/${record.partition}@${record.offset}: ${code}: ${message}`);
    await this.dlqProducer!.send([
      {
        topic: deadLetterTopic(record.topic),
        key: record.key ?? '',
        value: record.value.toString('utf8'),
        headers: {
          ...record.headers,
          [DlqHeaders.ERROR]: message.slice(0, 2000),
          [DlqHeaders.ERROR_CODE]: code,
          [DlqHeaders.CONSUMER]: this.options.consumer,
          [DlqHeaders.ATTEMPTS]: String(attempts),
          [DlqHeaders.ORIGINAL_TOPIC]: record.topic,
          [DlqHeaders.ORIGINAL_PARTITION]: String(record.partition),
          [DlqHeaders.ORIGINAL_OFFSET]: record.offset,
          [DlqHeaders.FAILED_AT]: new Date().toISOString(),
        },
      },
    ]);
  }
}
