/**
 * A long graph survives its scheduler being SIGKILLed and started again five
 * times in a row: real dscheduler/dworker processes.
 */
import t from 'tap';
import { Client } from '../dist/index.js';
import { CliProcess, unusedPort } from './fixtures/cli-process.js';
import { startScheduler, quietEnv as env } from './fixtures/survive.js';

t.test('five scheduler restarts during one 4,096-leaf tree reduction: the result is right', async (t) => {
  const port = await unusedPort();
  let scheduler = await startScheduler(port);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const address = `tcp://127.0.0.1:${port}`;
  const workers = new CliProcess('dworker', [address, '--nprocs', '2', '--nthreads', '2', '--death-timeout', '30s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m, 2);
  const client = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  await client.waitForWorkers(2);

  type F = ReturnType<Client['submit']>;
  let level: F[] = client.map((i: number) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    return i;
  }, Array.from({ length: 4096 }, (_, i) => i)) as F[];
  while (level.length > 1) {
    const next: F[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(client.submit((a: number, b: number) => a + b, level[i], level[i + 1]));
    level = next;
  }
  const root = level[0]!;
  for (let restart = 1; restart <= 5; restart++) {
    await new Promise((resolve) => setTimeout(resolve, 600));
    await scheduler.stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    scheduler = await startScheduler(port);
    // Wait for this incarnation to be in use before killing it again.
    await client.nthreads();
  }
  t.equal(await root.result(), (4095 * 4096) / 2, 'sum of 0..4095');
});
