// Values over the message limit move: the limit applies per frame, longer frames travel in pieces.
// The limit is lowered to 1 MiB (DISTRIBUTED_MAX_MESSAGE_BYTES) for every process, so 5 MiB values stand for 5 GB ones.
// Only a message over the total cap (DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES, else the machine's memory) is refused:
// a typed error naming the size and the cap before anything is sent, and no worker dies.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Client, MessageTooLargeError } from '../dist/index.js';
import { CliProcess } from './fixtures/cli-process.js';

const LIMIT = 1 << 20;
process.env.DISTRIBUTED_MAX_MESSAGE_BYTES = String(LIMIT);

/** FNV-1a over the bytes: sent as task source, so it cannot use node:crypto on the worker. */
function checksum(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return `${bytes.length}:${h.toString(16)}`;
}

/** Deterministic pseudo-random bytes (incompressible), made the same way here and on a worker. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function cluster(t: Tap.Test, env: NodeJS.ProcessEnv, workers: number): Promise<{ address: string; procs: CliProcess[] }> {
  const scheduler = new CliProcess('dscheduler', ['--port', '0'], env);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const address = announce![1]!;
  const procs: CliProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const worker = new CliProcess('dworker', [address, '--nthreads', '1'], env);
    t.teardown(() => worker.stop('SIGKILL'));
    await worker.waitForStdout(/^Registered with scheduler at/m);
    procs.push(worker);
  }
  return { address, procs };
}

t.test('5 MiB scatter, argument, result and worker-to-worker transfer arrive intact under a 1 MiB limit', async (t) => {
  const env = { ...process.env, DISTRIBUTED_MAX_MESSAGE_BYTES: String(LIMIT) };
  const { address } = await cluster(t, env, 2);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  await client.waitForWorkers(2);
  const [a, b] = Object.keys(await client.nthreads()).sort();
  const data = new Uint8Array(randomBytes(5 * LIMIT + 321));
  const expected = checksum(data);

  const scattered = (await client.scatter(data, { workers: [a!] })) as Awaited<ReturnType<typeof client.submit>>;
  t.equal(await client.submit(checksum, scattered, { workers: [a!] }).result(), expected, 'scatter: intact on its worker');
  t.equal(await client.submit(checksum, scattered, { workers: [b!] }).result(), expected, 'worker-to-worker: intact on the other worker');
  t.equal(checksum((await scattered.result()) as Uint8Array), expected, 'gathered back intact');

  t.equal(await client.submit(checksum, data, { workers: [b!] }).result(), expected, 'task argument: intact');

  const made = client.submit(pattern, 5 * LIMIT + 17, 12345, { workers: [a!] });
  t.equal(checksum((await made.result()) as Uint8Array), checksum(pattern(5 * LIMIT + 17, 12345)), 'result: intact at the client');
  t.equal(await client.submit(checksum, made, { workers: [b!] }).result(), checksum(pattern(5 * LIMIT + 17, 12345)), 'result moved to another worker: intact');
});

t.test('a value over the total cap fails clearly before sending; the worker carries on', async (t) => {
  const CAP = 8 * LIMIT;
  const env = { ...process.env, DISTRIBUTED_MAX_MESSAGE_BYTES: String(LIMIT), DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES: String(CAP) };
  process.env.DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES = String(CAP);
  t.teardown(() => { delete process.env.DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES; });
  const { address, procs } = await cluster(t, env, 1);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  const before = Object.keys(await client.nthreads());

  const scattered = await client.scatter(new Uint8Array(2 * CAP)).then(() => undefined, (e: unknown) => e);
  t.type(scattered, MessageTooLargeError, 'scatter: MessageTooLargeError');
  t.match(String((scattered as Error).message), new RegExp(`of \\d{8} bytes is over the ${CAP}-byte total message limit`), 'names the size and the cap');

  const big = client.submit((n: number) => new Uint8Array(n), 2 * CAP);
  const fetched = await big.result().then(() => undefined, (e: unknown) => e);
  t.type(fetched, MessageTooLargeError, 'a result too large to fetch: MessageTooLargeError, not LostDataError');
  t.match(String((fetched as Error).message), new RegExp(`over the ${CAP}-byte total message limit`));

  t.same(Object.keys(await client.nthreads()), before, 'the same worker is still there');
  t.equal(procs[0]!.child.exitCode, null, 'its process is alive');
  t.equal(await client.submit((x: number) => x + 1, 41).result(), 42, 'and still computes');
  t.equal((await client.submit((n: number) => new Uint8Array(n).length, 5 * LIMIT).result()), 5 * LIMIT, 'values under the cap move');
});
