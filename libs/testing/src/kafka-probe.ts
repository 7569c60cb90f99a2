import { Envelope } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { createKafkaClient, IncomingRecord, KafkaClientPort } from '@hotdash/platform-messaging';
import { deleteConsumerGroups } from './kafka-groups';

/**
 * Reads a topic from its beginning (or, with `from: 'end'`, only what is produced after start()
 * returned: the group's start is written down when it is created) with a throw-away consumer group
 * and keeps what it saw, so specs can assert on what really reached Kafka.
 */
export class KafkaProbe {
  readonly records: IncomingRecord[] = [];
  private readonly parsed: Envelope[] = [];
  private client: KafkaClientPort;
  private readonly groupId = `probe-${newId()}`;

  private constructor(readonly topic: string) {
    const config = loadConfig();
    this.client = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'test-probe' });
  }

  static async start(topic: string, options: { from?: 'beginning' | 'end' } = {}): Promise<KafkaProbe> {
    const probe = new KafkaProbe(topic);
    const consumer = await probe.client.consumer({ groupId: probe.groupId, topics: [topic], fromBeginning: options.from !== 'end' });
    await consumer.run(async (rs) => {
      for (const r of rs) {
        probe.records.push(r);
        try {
          probe.parsed.push(JSON.parse(r.value.toString('utf8')) as Envelope);
        } catch {
          // not an envelope (a poison record): kept in records only
        }
      }
    });
    return probe;
  }

  /** The records that parsed as JSON envelopes, in arrival order (parsed once, on arrival). */
  envelopes(): Envelope[] {
    return this.parsed;
  }

  producer(): ReturnType<KafkaClientPort['producer']> {
    return this.client.producer();
  }

  /** Closes the consumer and deletes its throw-away group. */
  async close(): Promise<void> {
    await this.client.close();
    await deleteConsumerGroups([this.groupId]);
  }
}
