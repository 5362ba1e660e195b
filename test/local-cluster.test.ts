import t from 'tap';
import { Client } from '../dist/index.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { ConnectError, TimeoutError } from '../dist/lib/errors.js';

t.test('LocalCluster workers advertise resources; tasks needing them run only there', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, resources: { GPU: 1 } });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const gpu = client.with({ resources: { GPU: 1 }, pure: false });
  t.same(await client.gather(gpu.map((x: number) => x * 2, [1, 2, 3])), [2, 4, 6]);
  const impossible = client.with({ resources: { TPU: 1 }, pure: false }).submit((x: number) => x, 1);
  await t.rejects(impossible.result({ timeout: 200 }), /timed out/);
  t.equal(impossible.status, 'pending');
});

t.test('LocalCluster starts workers in process and closes cleanly', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, memoryLimit: '1GB' });
  t.match(cluster.schedulerAddress, /^inproc:\/\//);
  t.equal(cluster.workers.length, 2);
  const client = await Client.connect(cluster);
  const nthreads = await client.nthreads();
  t.same(Object.values(nthreads), [1, 1]);
  const info = await client.schedulerInfo();
  t.ok(Object.values(info.workers).every((worker) => worker.memoryLimit === 1e9));
  await client.close();
  await cluster.close();
  await cluster.close();
  await t.rejects(Client.connect(cluster, { timeout: 500 }), 'nothing to connect to once closed');
});

t.test('bad sizes are refused', async (t) => {
  await t.rejects(LocalCluster.start({ nWorkers: -1 }), TypeError);
  await t.rejects(LocalCluster.start({ threadsPerWorker: 0 }), TypeError);
});

t.test('Client.connect() with no target owns a LocalCluster', async (t) => {
  const client = await Client.connect();
  t.ok(client.cluster instanceof LocalCluster);
  t.equal(client.schedulerAddress, client.cluster!.schedulerAddress);
  t.equal(await client.submit((x: number) => x * 3, 14).result(), 42);
  const cluster = client.cluster!;
  await client.close();
  t.equal(client.status, 'closed');
  await t.rejects(Client.connect(cluster, { timeout: 500 }), 'the owned cluster is closed with the client');
});

t.test('await using closes the client', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  let escaped: Client | undefined;
  {
    await using client = await Client.connect(cluster.schedulerAddress);
    escaped = client;
    t.equal(client.status, 'running');
  }
  t.equal(escaped.status, 'closed');
  await cluster[Symbol.asyncDispose]();
});

t.test('an unreachable scheduler fails within the timeout with a clear error', async (t) => {
  const started = Date.now();
  await t.rejects(Client.connect('tcp://127.0.0.1:1', { timeout: 1000 }), ConnectError);
  t.ok(Date.now() - started < 3000, 'promptly');
  const silent = Date.now();
  // A listener that never answers: the TCP connect succeeds, registration never does.
  const { createServer } = await import('node:net');
  const server = createServer(() => undefined).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  const error = await Client.connect(`tcp://127.0.0.1:${port}`, { timeout: 300 }).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof TimeoutError || error instanceof ConnectError, `a timeout or connect error, got ${String(error)}`);
  t.ok(Date.now() - silent < 3000);
  server.close();
  await t.rejects(Client.connect('nonsense'), TypeError);
  await t.rejects(Client.connect(42 as never), TypeError);
});

t.test('connect to a Scheduler object; shutdown terminates a scheduler the client does not own', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  const client = await Client.connect(cluster.scheduler);
  t.equal(client.schedulerAddress, cluster.scheduler.address);
  const bystander = await Client.connect(cluster);
  const waiting = t.rejects(bystander.submit(async () => new Promise(() => undefined)).result(), 'other clients are disconnected');
  await client.shutdown();
  t.equal(client.status, 'closed');
  await waiting;
  await t.rejects(Client.connect(cluster, { timeout: 500 }), 'the scheduler is gone');
  await bystander.close();
  await cluster.close();
});

t.test('shutdown closes the scheduler and workers of a cluster it owns', async (t) => {
  const client = await Client.connect();
  const cluster = client.cluster!;
  await client.shutdown();
  t.equal(client.status, 'closed');
  await t.rejects(Client.connect(cluster, { timeout: 500 }));
});
