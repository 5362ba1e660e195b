// A program started with Node flags that worker threads refuse still gets a working cluster.
import t from 'tap';
import { threadFlags } from '../dist/lib/worker/thread-flags.js';
import { fixture, runNode } from './fixtures/run-node.js';

t.test('node --expose-gc --max-old-space-size=512: in-process and process clusters run tasks', async (t) => {
  const run = await runNode(['--expose-gc', '--max-old-space-size=512', fixture('flags-cluster.mjs')], { timeoutMs: 60_000 });
  t.notOk(run.stderr.includes('ERR_WORKER_INVALID_EXEC_ARGV'), 'no invalid-execArgv error');
  t.match(run.stdout, /^threads 42$/m);
  t.match(run.stdout, /^processes 42$/m);
  t.match(run.stdout, /^gc function$/m, 'the program itself keeps its flags');
  t.equal(run.code, 0, run.stderr);
});

t.test('threadFlags keeps what threads accept and drops the rest', async (t) => {
  const flags = threadFlags(['--expose-gc', '--enable-source-maps', '--max-old-space-size=512', '--stack-size', '2000', '--no-warnings']);
  t.same(flags.execArgv, ['--enable-source-maps', '--no-warnings']);
  t.same(flags.dropped, ['--expose-gc', '--max-old-space-size=512', '--stack-size', '2000']);
  t.equal(flags.maxOldGenerationSizeMb, 512, 'the heap limit becomes the threads\' resource limit');
  t.same(threadFlags([]).execArgv, []);
});
