// dworker --preload prepares the threads that run tasks, with and without a nanny.
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Client } from '../dist/index.js';
import { CliProcess } from './fixtures/cli-process.js';

const preloadModule = fileURLToPath(new URL('./fixtures/thread-preload-module.mjs', import.meta.url));

const probe = async () => {
  const { threadId } = await import('node:worker_threads');
  const g = globalThis as { preparedAtTopLevel?: boolean; preparedThread?: number };
  return { topLevel: g.preparedAtTopLevel === true, setupThread: g.preparedThread === threadId, threadId };
};

for (const mode of [['--nthreads', '2'], ['--nthreads', '2', '--no-nanny']]) {
  t.test(`tasks see what --preload set up (dworker ${mode.join(' ')})`, async (t) => {
    const scheduler = new CliProcess('dscheduler', ['--port', '0']);
    t.teardown(() => scheduler.stop('SIGKILL'));
    const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
    const address = announce![1]!;
    const worker = new CliProcess('dworker', [address, ...mode, '--preload', preloadModule]);
    t.teardown(() => worker.stop('SIGKILL'));
    await worker.waitForStdout(/^Registered with scheduler at/m);
    const client = await Client.connect(address);
    t.teardown(() => client.close());
    const results = await client.gather(client.with({ pure: false }).map(probe, [1, 2, 3, 4, 5, 6]));
    for (const result of results) {
      t.ok(result.topLevel, `the module's top level ran in task thread ${result.threadId}`);
      t.ok(result.setupThread, `setupThread() ran in task thread ${result.threadId}`);
    }
  });
}
