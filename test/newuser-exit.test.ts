// A script that forgets client.close() ends once nothing is pending, when its client owns the cluster.
import t from 'tap';
import { fixture, runNode } from './fixtures/run-node.js';

t.test('a script without client.close() exits by itself, after all its work', async (t) => {
  const run = await runNode([fixture('forget-close.mjs')], { timeoutMs: 60_000 });
  t.notOk(run.killed, 'it ended by itself (not killed after the deadline)');
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, 'slow 300\nsquares 1,4,9\nnested 42\nvariable late\ndone\n', 'nothing was cut short');
});
