import { Metrics, type GaugeReading } from '@hotdash/platform-http';
import type { IncomingRecord, KafkaClientPort, KafkaConsumerPort } from './kafka';

/**
 * A Kafka client whose consumers report their lag (issue 17, item 2): per group, topic and
 * partition, the records between the partition's end (read at each scrape) and the next record
 * this process has yet to handle. Partitions this process has not consumed from since it started
 * are not reported. The rest of the client is the one given.
 */
export function withConsumerLag(kafka: KafkaClientPort, group: string): KafkaClientPort {
  // topic → partition → the next offset to handle
  const handled = new Map<string, Map<number, bigint>>();
  let warnedAt = 0;
  const note = (records: IncomingRecord[]) => {
    for (const r of records) {
      let parts = handled.get(r.topic);
      if (!parts) handled.set(r.topic, (parts = new Map()));
      const next = BigInt(r.offset) + 1n;
      if ((parts.get(r.partition) ?? -1n) < next) parts.set(r.partition, next);
    }
  };
  Metrics.gauge('hotdash.kafka.consumer.lag', async () => {
    const out: GaugeReading = [];
    for (const [topic, parts] of handled) {
      const bounds = await kafka.offsets(topic).catch((err: Error) => {
        if (Date.now() - warnedAt > 60_000) {
          warnedAt = Date.now();
          console.warn(`[${group}] consumer lag not read (${topic}): ${err.message}`);
        }
        return [];
      });
      for (const b of bounds) {
        const next = parts.get(b.partition);
        if (next !== undefined) out.push({ value: Math.max(0, Number(BigInt(b.high) - next)), labels: { group, topic, partition: String(b.partition) } });
      }
    }
    return out;
  });
  const consumer: KafkaClientPort['consumer'] = async (options) => {
    const inner = await kafka.consumer(options);
    const wrapped: KafkaConsumerPort = {
      run: (handler) =>
        inner.run(async (records) => {
          await handler(records);
          note(records);
        }),
      close: () => inner.close(),
    };
    return wrapped;
  };
  return new Proxy(kafka, {
    get(target, prop) {
      if (prop === 'consumer') return consumer;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
