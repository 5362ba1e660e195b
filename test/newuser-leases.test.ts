// A client that closes normally gives its Lock and Semaphore leases back at once.
import t from 'tap';
import { Client, LocalCluster, Lock, Semaphore } from '../dist/index.js';

t.test('closing a client releases its leases', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const holder = await Client.connect(cluster);
  const other = await Client.connect(cluster);
  t.teardown(() => other.close());

  t.ok(await new Lock('door', { client: holder }).acquire());
  const semaphore = new Semaphore({ name: 'seats', maxLeases: 1, client: holder });
  t.ok(await semaphore.acquire());
  t.notOk(await new Lock('door', { client: other }).acquire({ timeout: 0 }), 'held while the holder is connected');

  await holder.close();
  // Well inside the lease timeout (30 s and more): only an immediate release lets these through.
  t.ok(await new Lock('door', { client: other }).acquire({ timeout: '5s' }), 'the lock is free once its holder closed');
  t.ok(await new Semaphore({ name: 'seats', maxLeases: 1, client: other }).acquire({ timeout: '5s' }), 'so is the semaphore');
});
