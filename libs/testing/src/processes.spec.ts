// startServices (the specs' and benchmarks' way to run services as processes) fails at once when a
// service exits before it is healthy, and leaves none of the processes it started running: an
// orphaned relay from a failed start once went on taking a later benchmark's outbox rows.
import { closedPort } from './ports';
import { startServices } from './processes';

const CHILD = 'libs/testing/src/children/health.child.ts';

it('stops every process it started when one exits before answering /health, and says which', async () => {
  const [healthy, failing] = [await closedPort(), await closedPort()];
  const url = `http://127.0.0.1:${healthy}`;
  const error = await startServices([
    { entry: CHILD, env: { CHILD_PORT: String(healthy) }, url },
    { entry: CHILD, env: { CHILD_EXIT: '3' }, url: `http://127.0.0.1:${failing}` },
  ]).then(
    () => undefined,
    (e: Error) => e,
  );
  // Its exit, not the 60 s allowed to start: the message names it.
  expect(error?.message).toMatch(/health\.child\.ts exited \(3\) before it answered/);
  // The healthy one was up (the failing one is waited for after it) and is gone now.
  expect(await fetch(`${url}/health`).then((r) => r.status, () => 'refused')).toBe('refused');
}, 90_000);

it('returns the processes once each answers /health', async () => {
  const port = await closedPort();
  const [p] = await startServices([{ entry: CHILD, env: { CHILD_PORT: String(port) }, url: `http://127.0.0.1:${port}` }]);
  expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  await p!.stop();
  expect(p!.child.exitCode).toBe(0);
});
