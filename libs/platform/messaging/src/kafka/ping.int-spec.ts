// KafkaClientPort#ping (the services' `kafka` readiness probe) with both adapters: a round trip to
// the local broker; a broker that refuses (a loopback port nothing listens on) fails at once with the
// connection's error, not after the client's retries; a closed client refuses.
import { closedPort } from '@hotdash/testing';
import { createKafkaClient, KafkaClientName } from './index';
import { busForSpec } from './in-process.testing';
import type { KafkaClientPort } from './kafka.port';

jest.setTimeout(30_000);

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const clients: KafkaClientPort[] = [];
afterAll(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));

function client(name: KafkaClientName, at: string[]): KafkaClientPort {
  const c = createKafkaClient({ brokers: at, clientId: `ping-spec-${name}` }, name);
  clients.push(c);
  return c;
}

describe.each(['platformatic', 'kafkajs'] as KafkaClientName[])('%s', (name) => {
  it('pings the broker, again and again on one client', async () => {
    const c = client(name, brokers);
    for (let i = 0; i < 3; i++) await expect(c.ping()).resolves.toBeUndefined();
  });

  it('fails at once with the refusal when no broker listens', async () => {
    const port = await closedPort();
    const c = client(name, [`127.0.0.1:${port}`]);
    const started = Date.now();
    const err = (await c.ping().then(() => undefined, (e: unknown) => e)) as { message?: string; cause?: unknown; errors?: unknown[] } | undefined;
    expect(Date.now() - started).toBeLessThan(1_500);
    // The refusal is in the error or what it wraps (the readiness body lists the whole chain).
    const chain = (e: unknown, depth = 0): string[] =>
      !e || typeof e !== 'object' || depth > 4 ? [] : [String((e as { message?: unknown }).message), ...((e as { errors?: unknown[] }).errors ?? []).flatMap((x) => chain(x, depth + 1)), ...chain((e as { cause?: unknown }).cause, depth + 1)];
    expect(chain(err).join(' | ')).toMatch(`ECONNREFUSED 127.0.0.1:${port}`);
  });

});

// The in-process bus (embedded mode) has no broker to refuse: always ready while open. A broker
// that does not answer is Kafka's case only (above).
describe('in-process', () => {
  const bus = busForSpec('in-process');
  beforeAll(() => bus.start());
  afterAll(() => bus.stop());

  it('is ready again and again while open, and refuses once closed', async () => {
    const c = createKafkaClient({ brokers: [], clientId: 'ping-spec-in-process' }, 'in-process');
    for (let i = 0; i < 3; i++) await expect(c.ping()).resolves.toBeUndefined();
    await c.close();
    await expect(c.ping()).rejects.toThrow(/closed/);
  });
});
