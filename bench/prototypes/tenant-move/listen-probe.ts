/**
 * Pitfall probe: does a row the apply worker writes fire the target's outbox_notify (a statement
 * trigger)? LISTENs on hotdash_outbox of a scratch shard for MS milliseconds and counts notifications.
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/listen-probe.ts [ms] [shard]
 */
import { SHARDS, connect, sleep } from './lib';

void (async () => {
  const c = await connect(SHARDS[process.argv[3] ?? 'b']!);
  let n = 0;
  c.on('notification', (m) => {
    n++;
    console.log('notification', m.channel, m.processId);
  });
  await c.query('listen hotdash_outbox');
  await sleep(Number(process.argv[2] ?? 3000));
  console.log('notifications:', n);
  await c.end();
})();
