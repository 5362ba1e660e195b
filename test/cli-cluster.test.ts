/** dscheduler + dworker as real processes, a Client computing across them, and a clean SIGTERM. */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../dist/index.js';
import { CliProcess, descendantPids, isAlive, waitUntil } from './fixtures/cli-process.js';

const preloadModule = fileURLToPath(new URL('./fixtures/preload-module.mjs', import.meta.url));

t.test('a client computes across dworker --nprocs 2 --nthreads 1; SIGTERM leaves no processes', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--port', '0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const address = announce![1]!;
  t.match(address, /^tcp:\/\/127\.0\.0\.1:\d+$/, 'binds 127.0.0.1 by default');

  const marks = mkdtempSync(join(tmpdir(), 'dts-cli-'));
  t.teardown(() => rmSync(marks, { recursive: true, force: true }));
  const workers = new CliProcess(
    'dworker',
    [address, '--nprocs', '2', '--nthreads', '1', '--name', 'cli', '--memory-limit', '0', '--preload', preloadModule],
    { ...process.env, DTS_PRELOAD_MARK_DIR: marks },
  );
  t.teardown(() => workers.stop('SIGKILL'));
  const started = await workers.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m, 2);
  const registered = await workers.waitForStdout(/^Registered with scheduler at (\S+)$/m, 2);
  const workerAddresses = started.map((m) => m[1]!).sort();
  t.equal(new Set(workerAddresses).size, 2, 'two distinct worker addresses');
  t.same(registered.map((m) => m[1]), [address, address], 'both registered with our scheduler');

  const client = await Client.connect(address);
  t.teardown(() => client.close());
  const nthreads = await client.nthreads();
  t.same(Object.keys(nthreads).sort(), workerAddresses, 'nthreads() shows both workers');
  t.same(Object.values(nthreads), [1, 1]);

  const info = await client.schedulerInfo();
  const names = Object.values(info.workers as Record<string, { name: string }>).map((w) => String(w.name)).sort();
  t.same(names, ['cli-0', 'cli-1'], 'names get -0, -1 suffixes');

  const pids = await client.run(() => process.pid);
  t.same(Object.keys(pids).sort(), workerAddresses);
  const workerPids = Object.values(pids) as number[];
  t.equal(new Set(workerPids).size, 2, 'two worker processes');
  t.notOk(workerPids.includes(process.pid), 'not this process');
  t.notOk(workerPids.includes(scheduler.pid), 'not the scheduler');
  const children = descendantPids(workers.pid);
  for (const pid of workerPids) t.ok(children.includes(pid), `worker ${pid} is a child of dworker`);
  for (const pid of workerPids) t.ok(existsSync(join(marks, `setup-${pid}`)), `--preload setup ran in ${pid}`);

  const squares = client.map((x: number) => x * x, Array.from({ length: 40 }, (_, i) => i)) as { result(): Promise<unknown> }[];
  const results = (await Promise.all(squares.map((f) => f.result()))) as number[];
  t.equal(results.reduce((a, b) => a + b, 0), 20_540, 'the computation is right');
  const ran = await client.run(() => (globalThis as { preloadedBy?: string }).preloadedBy ?? null);
  t.same(Object.values(ran), ['preload-module', 'preload-module'], 'the preload module was imported in each worker');

  const exit = await workers.stop('SIGTERM');
  t.same(exit, { code: 0, signal: null }, 'dworker exits 0 on SIGTERM');
  await waitUntil(() => children.every((pid) => !isAlive(pid)), 5000, 'every child process has exited');
  for (const pid of workerPids) t.ok(existsSync(join(marks, `teardown-${pid}`)), `--preload teardown ran in ${pid}`);
  const deadline = Date.now() + 5000;
  let left = await client.nthreads();
  while (Object.keys(left).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = await client.nthreads();
  }
  t.same(left, {}, 'the workers left the scheduler');
  await client.close();

  const schedulerExit = await scheduler.stop('SIGINT');
  t.same(schedulerExit, { code: 0, signal: null }, 'dscheduler exits 0 on SIGINT');
});

t.test('dworker --no-nanny runs one worker in its own process', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--port', '0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const address = announce![1]!;
  const worker = new CliProcess('dworker', [address, '--no-nanny', '--nthreads', '2', '--name', 'solo', '--resources', 'GPU=1']);
  t.teardown(() => worker.stop('SIGKILL'));
  const [started] = await worker.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m);
  await worker.waitForStdout(/^Registered with scheduler at /m);
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  t.same(await client.nthreads(), { [started![1]!]: 2 });
  const pids = await client.run(() => process.pid);
  t.same(Object.values(pids), [worker.pid], 'the worker runs inside the dworker process');
  t.same(descendantPids(worker.pid), [], 'no child processes without a nanny');
  const gpu = client.with({ resources: { GPU: 1 } }).submit((x: number) => x + 1, 41) as { result(): Promise<unknown> };
  t.equal(await gpu.result(), 42, 'the advertised resource is usable');
  t.same(await worker.stop('SIGTERM'), { code: 0, signal: null });
});

t.test('--host 0.0.0.0 advertises a dialable address; client.shutdown() ends both commands with exit 0', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--host', '0.0.0.0', '--port', '0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const address = announce![1]!;
  t.notMatch(address, /0\.0\.0\.0/, 'the scheduler announces an address others can dial');
  const workers = new CliProcess('dworker', [address, '--nprocs', '1', '--nthreads', '1', '--host', '0.0.0.0']);
  t.teardown(() => workers.stop('SIGKILL'));
  const [[, workerAddress]] = (await workers.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m)) as [RegExpMatchArray];
  t.notMatch(workerAddress!, /0\.0\.0\.0/, 'so does the worker');
  const solo = new CliProcess('dworker', [address, '--no-nanny', '--nthreads', '1', '--host', '0.0.0.0']);
  t.teardown(() => solo.stop('SIGKILL'));
  await solo.waitForStdout(/^Registered with scheduler at /m);
  const children = descendantPids(workers.pid);

  const client = await Client.connect(address);
  t.teardown(() => client.close());
  t.equal(Object.keys(await client.nthreads()).length, 2);
  // Pinned to each worker in turn, with data moving between them over the advertised addresses.
  const workerList = Object.keys(await client.nthreads());
  const first = client.with({ workers: [workerList[0]!] }).submit((n: number) => new Uint8Array(n).fill(3), 200_000);
  const second = client.with({ workers: [workerList[1]!] }).submit((bytes: Uint8Array) => bytes.reduce((a, b) => a + b, 0), first);
  t.equal(await second.result(), 600_000, 'a worker fetched its input from the other one');

  await client.shutdown();
  t.same(await scheduler.exited, { code: 0, signal: null }, 'dscheduler exits 0 after client.shutdown()');
  t.same(await workers.exited, { code: 0, signal: null }, 'dworker (nannies) exits 0 after client.shutdown()');
  t.same(await solo.exited, { code: 0, signal: null }, 'dworker --no-nanny exits 0 after client.shutdown()');
  await waitUntil(() => children.every((pid) => !isAlive(pid)), 5000, 'the worker processes have exited');
});

/** Two consecutive ports nobody is listening on right now (random, retried). */
async function freePortPair(): Promise<number> {
  const { createServer } = await import('node:net');
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await free(base)) && (await free(base + 1))) return base;
  }
  throw new Error('no two consecutive free ports found');
}

t.test('dworker --nprocs 2 --port START:END gives each worker process its own port', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--port', '0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  const base = await freePortPair();
  const workers = new CliProcess('dworker', [announce![1]!, '--nprocs', '2', '--nthreads', '1', '--port', `${base}:${base + 1}`]);
  t.teardown(() => workers.stop('SIGKILL'));
  const started = await workers.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m, 2);
  t.same(started.map((m) => Number(m[1]!.split(':').pop())).sort(), [base, base + 1]);
  t.same(await workers.stop('SIGTERM'), { code: 0, signal: null });
});
