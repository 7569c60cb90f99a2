// The readiness registry on its own: how a dependency's probes make its state, the time limit, one
// probe run at a time per connection, and one log line per transition.
import { Readiness } from './readiness';

function recorder(): { lines: string[]; log: { warn(l: string): void; log(l: string): void } } {
  const lines: string[] = [];
  return { lines, log: { warn: (l) => lines.push(`warn ${l}`), log: (l) => lines.push(`log ${l}`) } };
}

it('a dependency is up when every probe answers, down naming each probe that did not', async () => {
  const readiness = new Readiness({ log: recorder().log })
    .add('postgres', async () => ({ pools: 2 }))
    .add('redis', async () => undefined, 'auth')
    .add('redis', async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:63790')), 'queue');
  expect(readiness.names()).toEqual(['postgres', 'redis']);
  expect(await readiness.checkAll()).toEqual([
    { name: 'postgres', up: true, details: { pools: 2 } },
    { name: 'redis', up: false, details: { parts: { auth: 'up', queue: 'down' }, message: 'queue: connect ECONNREFUSED 127.0.0.1:63790' } },
  ]);
});

it('a probe that does not answer is down after the time limit, and is not run again while it hangs', async () => {
  let runs = 0;
  const readiness = new Readiness({ timeoutMs: 100, log: recorder().log }).add('kafka', () => {
    runs++;
    return new Promise(() => undefined);
  });
  const started = Date.now();
  const states = [await readiness.check('kafka'), await readiness.check('kafka'), await readiness.check('kafka')];
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(states.map((s) => [s.up, s.details.message])).toEqual(Array(3).fill([false, 'no answer within 100 ms']));
  expect(runs).toBe(1);
});

it('logs a dependency going down once, with its reason, and once when it is back', async () => {
  const { lines, log } = recorder();
  let failure: Error | undefined;
  const readiness = new Readiness({ log }).add('weaviate', async () => {
    if (failure) throw failure;
  });
  await readiness.check('weaviate');
  expect(lines).toEqual([]); // up from the start: nothing to say
  failure = new Error('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:18080') });
  for (let i = 0; i < 5; i++) expect((await readiness.check('weaviate')).details.message).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:18080');
  failure = undefined;
  for (let i = 0; i < 3; i++) expect((await readiness.check('weaviate')).up).toBe(true);
  expect(lines).toEqual(['warn weaviate is down: fetch failed: connect ECONNREFUSED 127.0.0.1:18080', expect.stringMatching(/^log weaviate is up again \(down for \d+\.\d s\)$/)]);
});

it('says why an AggregateError failed (a host name with several refused addresses)', async () => {
  const readiness = new Readiness({ log: recorder().log }).add('postgres', async () => {
    throw new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')]);
  });
  expect((await readiness.check('postgres')).details.message).toBe('AggregateError: connect ECONNREFUSED ::1:5432: connect ECONNREFUSED 127.0.0.1:5432');
});
