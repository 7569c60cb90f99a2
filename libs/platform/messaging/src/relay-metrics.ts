import type { Databases, DbLocation, ShardRouter } from '@hotdash/platform-db';
import { Metrics, type GaugeReading } from '@hotdash/platform-http';
import { relayLagOf } from './relay-lag';

/**
 * The relay's lag as metrics (issue 17, item 2), read at each scrape: per database (the control
 * database and every shard not retired) the outbox rows waiting and the age of the oldest. One
 * read of each database per scrape, shared by both gauges; a database that cannot be read is left
 * out of that scrape.
 */
export function observeRelayLag(dbs: Databases, router: ShardRouter): void {
  let pending: { at: number; readings: Promise<{ events: GaugeReading; oldest: GaugeReading }> } | undefined;
  const read = () => {
    if (pending && Date.now() - pending.at < 1_000) return pending.readings;
    pending = { at: Date.now(), readings: readAll(dbs, router) };
    return pending.readings;
  };
  Metrics.gauge('hotdash.relay.lag.events', async () => (await read()).events);
  Metrics.gauge('hotdash.relay.lag.oldest', async () => (await read()).oldest);
}

async function readAll(dbs: Databases, router: ShardRouter): Promise<{ events: GaugeReading; oldest: GaugeReading }> {
  const shards = (await router.listShards()).filter((s) => s.status !== 'retired');
  const targets: { database: string; location: DbLocation }[] = [{ database: 'control', location: dbs.controlLocation }, ...shards.map((s) => ({ database: s.name, location: s }))];
  const events: GaugeReading = [];
  const oldest: GaugeReading = [];
  await Promise.all(
    targets.map(async ({ database, location }) => {
      const lag = await relayLagOf(dbs, location).catch(() => undefined);
      if (!lag) return;
      events.push({ value: lag.unpublished, labels: { database } });
      oldest.push({ value: lag.oldestUnpublishedSeconds ?? 0, labels: { database } });
    }),
  );
  return { events, oldest };
}
