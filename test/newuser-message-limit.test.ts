// Values over the message limit: a typed error naming the size and the limit before anything is sent, and no worker dies.
// The limit is lowered to 1 MiB (DISTRIBUTED_MAX_MESSAGE_BYTES) for every process, so 2 MiB values stand for 2 GB ones.
import t from 'tap';
import { Client, MessageTooLargeError } from '../dist/index.js';
import { CliProcess } from './fixtures/cli-process.js';

const LIMIT = 1 << 20;
process.env.DISTRIBUTED_MAX_MESSAGE_BYTES = String(LIMIT);

t.test('scatter and a result over the limit fail clearly; the worker carries on', async (t) => {
  const env = { ...process.env, DISTRIBUTED_MAX_MESSAGE_BYTES: String(LIMIT) };
  const scheduler = new CliProcess('dscheduler', ['--port', '0'], env);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const address = announce![1]!;
  const worker = new CliProcess('dworker', [address, '--nthreads', '1'], env);
  t.teardown(() => worker.stop('SIGKILL'));
  await worker.waitForStdout(/^Registered with scheduler at/m);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  const before = Object.keys(await client.nthreads());

  const scattered = await client.scatter(new Uint8Array(2 * LIMIT)).then(() => undefined, (e: unknown) => e);
  t.type(scattered, MessageTooLargeError, 'scatter: MessageTooLargeError');
  t.match(String((scattered as Error).message), new RegExp(`of \\d{7} bytes is over the ${LIMIT}-byte message limit`), 'names the size and the limit');

  const big = client.submit((n: number) => new Uint8Array(n), 2 * LIMIT);
  const fetched = await big.result().then(() => undefined, (e: unknown) => e);
  t.type(fetched, MessageTooLargeError, 'a result too large to fetch: MessageTooLargeError, not LostDataError');
  t.match(String((fetched as Error).message), /over the 1048576-byte message limit/);

  t.same(Object.keys(await client.nthreads()), before, 'the same worker is still there');
  t.equal(worker.child.exitCode, null, 'its process is alive');
  t.equal(await client.submit((x: number) => x + 1, 41).result(), 42, 'and still computes');
  t.equal((await client.submit((n: number) => new Uint8Array(n).length, LIMIT / 2).result()), LIMIT / 2, 'values under the limit move');
});
