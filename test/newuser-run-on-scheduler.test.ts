// client.runOnScheduler: in the client's own process, or with --allow-run-on-scheduler; refused otherwise.
import t from 'tap';
import { Client, NotAllowedError } from '../dist/index.js';
import { CliProcess } from './fixtures/cli-process.js';

t.test('a scheduler in this program runs the function here', async (t) => {
  const client = await Client.connect();
  t.teardown(() => client.close());
  t.equal(await client.runOnScheduler(() => process.pid), process.pid);
  t.equal(await client.runOnScheduler((a: number, b: number) => a * b, 6, 7), 42);
  await t.rejects(client.runOnScheduler(() => {
    throw new RangeError('from the scheduler');
  }), { name: 'RangeError', message: 'from the scheduler' });
});

async function schedulerProcess(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<{ address: string; pid: number }> {
  const scheduler = new CliProcess('dscheduler', ['--port', '0', ...args]);
  t.teardown(() => scheduler.stop());
  const [match] = await scheduler.waitForStdout(/Start scheduler at (tcp:\/\/\S+)/);
  return { address: match![1]!, pid: scheduler.pid };
}

t.test('dscheduler refuses code from the network by default, with a typed error', async (t) => {
  const { address } = await schedulerProcess(t, []);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  const error = await client.runOnScheduler(() => process.pid).then(() => undefined, (e: unknown) => e);
  t.type(error, NotAllowedError);
  t.match(String((error as Error).message), /--allow-run-on-scheduler/);
  t.same(await client.nthreads(), {}, 'the scheduler carries on');
});

t.test('dscheduler --allow-run-on-scheduler runs it in the scheduler process', async (t) => {
  const { address, pid } = await schedulerProcess(t, ['--allow-run-on-scheduler']);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  t.equal(await client.runOnScheduler(() => process.pid), pid);
});
