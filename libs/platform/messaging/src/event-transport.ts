import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { lastValueFrom, defaultIfEmpty } from 'rxjs';
import { Envelope, envelopeSchema, EventType, parseTenantId, payloadSchemaOf, topicOf, isKnownEventType, deadLetterTopic } from '@hotdash/contracts';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { TenantDatabase, TenantTx, ShardInfo } from '@hotdash/platform-db';
import { TenantNotPlacedError } from '@hotdash/platform-db';
import type { IncomingRecord, KafkaClientPort, KafkaConsumerPort, KafkaProducerPort } from './kafka/kafka.port';
import { DlqHeaders } from './headers';
import { NonRetryableError } from './errors';

/** Second argument of every @EventPattern handler. */
export interface EventContext {
  /** The transaction the handler's writes go in, together with the inbox row: both commit or neither. */
  tx: TenantTx;
  shard: ShardInfo;
  envelope: Envelope;
  attempt: number;
  record: IncomingRecord;
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
  /** Kafka session timeout: how long a dead consumer keeps its partitions (default 10 s; broker minimum 6 s). */
  sessionTimeoutMs?: number;
  log?: (msg: string) => void;
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
        await this.consumerPort.run((record) => this.handleRecord(record));
      }
      callback();
    } catch (err) {
      callback(err);
    }
  }

  async close(): Promise<void> {
    await this.consumerPort?.close();
    await this.dlqProducer?.close();
  }

  on(): never {
    throw new Error('KafkaEventTransport does not emit transport events');
  }

  unwrap<T>(): T {
    return this.options.kafka as T;
  }

  /** Public for tests: handles one record end to end (never rejects for a bad event). */
  async handleRecord(record: IncomingRecord): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = this.decode(record);
    } catch (err) {
      const e = err as DeadLetter;
      await this.deadLetter(record, e.code ?? 'invalid-event', e.message, 1);
      return;
    }
    const handler = this.getHandlerByPattern(envelope.type);
    if (!handler) return; // an event this consumer does not care about
    const tenantId = parseTenantId(envelope.tenantId);
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        await runInTenantContext({ tenantId, actorId: `event:${envelope.producer}`, correlationId: envelope.correlationId }, () =>
          this.options.tenantDb.withTenant(tenantId, async (tx, shard) => {
            const inserted = await tx.$executeRaw`insert into inbox (tenant_id, consumer, event_id)
              values (${tenantId}::uuid, ${this.options.consumer}, ${envelope.id}::uuid) on conflict do nothing`;
            if (inserted === 0) return; // already applied: a redelivery
            const ctx: EventContext = { tx, shard, envelope, attempt, record };
            const result = await handler(envelope, ctx);
            await lastValueFrom(this.transformToObservable(result).pipe(defaultIfEmpty(undefined)));
          }),
        );
        return;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(typeof err === 'object' && err && 'message' in err ? String((err as { message: unknown }).message) : String(err));
        const fatal = error instanceof NonRetryableError || error instanceof TenantNotPlacedError;
        if (fatal || attempt >= maxAttempts) {
          const code = error instanceof NonRetryableError ? error.code : error instanceof TenantNotPlacedError ? 'unknown-tenant' : 'handler-failed';
          await this.deadLetter(record, code, error.message, attempt);
          return;
        }
        this.options.log?.(`[${this.options.consumer}] ${envelope.type} ${envelope.id} attempt ${attempt}/${maxAttempts} failed: ${error.message}`);
        await new Promise((r) => setTimeout(r, (this.options.backoffMs ?? 100) * 2 ** (attempt - 1)));
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
    if (!isKnownEventType(env.type)) return env; // unknown types are skipped by handleRecord (no handler)
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
