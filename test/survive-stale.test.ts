/**
 * Stale decisions: advice to compute a key that is in memory by the time it
 * is acted on (a worker brought it back, a client placed it) is dropped, not
 * carried out — carrying it out releases a good value and computes it again
 * (dask #6228). Real processes: dscheduler and dworker.
 */
import t from 'tap';
import { Client } from '../dist/index.js';
import { CliProcess, unusedPort } from './fixtures/cli-process.js';
import { harness, addWorker, sid, task } from './fixtures/scheduler-harness.js';

const env = { ...process.env, DISTRIBUTED_LOG_LEVEL: 'warn' };

t.test('values placed for a chain waiting on a slow task stay as placed: no stale compute of the last one', async (t) => {
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  const scheduler = new CliProcess('dscheduler', ['--port', String(port), '--no-dashboard'], env);
  t.teardown(() => scheduler.stop('SIGKILL'));
  await scheduler.waitForStdout(/^Start scheduler at/m);
  const workers = new CliProcess('dworker', [address, '--nthreads', '1'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m);
  const client = await Client.connect(address, { reconnectTimeout: 0 });
  t.teardown(() => client.close());

  // z holds the only thread; a waits on z, b on a.
  const z = client.with({ key: 'stale-z' }).submit(() => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    return 1;
  });
  const a = client.with({ key: 'stale-a' }).submit((x: number) => x + 100, z);
  const b = client.with({ key: 'stale-b' }).submit((x: number) => x + 1000, a);
  // The values arrive first, in one placement: a (which makes b ready), then b itself.
  const placed = (await client.scatter({ 'stale-a': 10, 'stale-b': 20 })) as Record<string, { key: string; result(): Promise<unknown> }>;
  t.same(Object.values(placed).map((f) => f.key), ['stale-a', 'stale-b']);
  t.equal(await b.result(), 20, 'b is the value placed, not recomputed from a (10 + 1000)');
  t.equal(await a.result(), 10);
  t.equal(await z.result(), 1);
  t.equal(await b.result(), 20, 'and stays so once z is done');
});

t.test('SchedulerState: a recommendation to compute a key that went to memory in the same stimulus is dropped and counted', async (t) => {
  const { s } = harness();
  addWorker(s, 'w1');
  s.updateGraph('c', [task('z'), task('a', ['z']), task('b', ['a'])], ['b'], sid());
  t.equal(s.tasks.get('b')!.state, 'waiting');
  s.addData('c', [{ key: 'a', nbytes: 8, workers: ['w1'] }, { key: 'b', nbytes: 8, workers: ['w1'] }], sid('scatter'));
  t.equal(s.tasks.get('b')!.state, 'memory', 'b is kept as placed');
  t.same(s.tasks.get('b')!.holders().map((ws) => ws.address), ['w1']);
  t.equal(s.staleDecisions, 1, 'the advice to compute b (a became ready) was dropped');
});

t.test('WorkerState: a compute-task for a key held in memory runs nothing; the value is reported under the new run id', async (t) => {
  const { WorkerState } = await import('../dist/lib/worker/worker-state.js');
  const { encodeValue } = await import('../dist/lib/protocol/values.js');
  const { toFunctionRef } = await import('../dist/lib/task-function.js');
  const state = new WorkerState({ address: 'tcp://127.0.0.1:1', nthreads: 1 });
  state.handle({ op: 'update-data', data: { held: encodeValue(5) } });
  const runSpec = { fn: toFunctionRef((x: number) => x), args: encodeValue([1]) };
  const out = state.handle({ op: 'compute-task', key: 'held', runId: 7, runSpec, whoHas: {}, nbytes: {}, priority: [0], stimulusId: 'again' });
  t.same(out.filter((i) => i.kind === 'execute'), [], 'nothing runs again');
  t.match(out.filter((i) => i.kind === 'send-to-scheduler').map((i) => (i as { msg: unknown }).msg), [{ op: 'task-finished', key: 'held', runId: 7 }]);
  t.equal(state.tasks.get('held')!.state, 'memory');
});
