/**
 * The scheduler never evaluates code from the network: functions in a task
 * graph pass through it as text and run only in worker processes.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, LocalCluster } from '../dist/index.js';

t.test('functions in a graph sent to the scheduler are called only on workers', async (t) => {
  const marks = mkdtempSync(join(tmpdir(), 'dts-no-code-'));
  t.teardown(() => rmSync(marks, { recursive: true, force: true }));
  // The scheduler lives in this process; its workers in two others.
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster.schedulerAddress);
  t.teardown(() => client.close());

  // Every call leaves a file named after the calling process.
  const mark = (dir: string, value: number): number => {
    const fs = process.getBuiltinModule('node:fs');
    fs.writeFileSync(`${dir}/${process.pid}-${Math.random().toString(36).slice(2)}`, '');
    return value;
  };
  const add = (dir: string, a: number, b: number): number => {
    const fs = process.getBuiltinModule('node:fs');
    fs.writeFileSync(`${dir}/${process.pid}-${Math.random().toString(36).slice(2)}`, '');
    return a + b;
  };
  const graph = {
    x: [mark, marks, 20],
    y: [mark, marks, 22],
    z: [add, marks, 'x', 'y'],
  };
  t.equal(await client.get(graph, 'z'), 42, 'the graph computed');

  const callers = new Set(readdirSync(marks).map((name) => Number(name.split('-')[0])));
  t.equal(readdirSync(marks).length, 3, 'each function was called exactly once');
  t.notOk(callers.has(process.pid), 'never in the scheduler\'s process');
  const workerPids = new Set(Object.values(await client.run(() => process.pid)));
  for (const pid of callers) t.ok(workerPids.has(pid), `called in worker process ${pid}`);
});
