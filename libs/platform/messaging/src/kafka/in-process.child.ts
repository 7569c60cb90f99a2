// A process on the in-process bus for in-process.adapter.int-spec.ts's kill test: produces records
// without end (four sends in flight, three records each, keyed over eight keys) and consumes them
// in a group; appends `acked <value>` to BUS_CHILD_LOG once a send that held the record resolved,
// and `handled <value>` before a handler call that held it returns (synchronous appends: a line is
// in the file before the next step, whenever the process dies). The spec kills it with SIGKILL.
import { appendFileSync } from 'node:fs';
import { InProcessKafkaClient } from './in-process.adapter';

const log = (lines: string[]) => appendFileSync(process.env.BUS_CHILD_LOG!, lines.map((l) => `${l}\n`).join(''));

const TOPIC = 'kill-test';

async function main(): Promise<void> {
  const client = new InProcessKafkaClient({ clientId: 'bus-child', directory: process.env.BUS_CHILD_DIR!, topics: [{ topic: TOPIC, partitions: 3 }] });
  const consumer = await client.consumer({ groupId: 'kill-group', topics: [TOPIC], fromBeginning: true, maxBatch: 7 });
  await consumer.run(async (records) => {
    log(records.map((r) => `handled ${r.value.toString('utf8')}`));
  });
  const producer = await client.producer();
  let n = 0;
  const sender = async (): Promise<void> => {
    for (;;) {
      const values = [n++, n++, n++].map((i) => `${process.pid}-${i}`);
      await producer.send(values.map((value, i) => ({ topic: TOPIC, key: `key-${(n + i) % 8}`, value, headers: { 'x-pid': String(process.pid) } })));
      log(values.map((v) => `acked ${v}`));
    }
  };
  log(['ready']);
  await Promise.all([sender(), sender(), sender(), sender()]);
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
