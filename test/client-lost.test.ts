import t from 'tap';
import { Client } from '../dist/index.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { wait } from '../dist/lib/client/wait.js';
import { CommClosedError, LostDataError } from '../dist/lib/errors.js';

const inc = (x: number): number => x + 1;

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

t.test('data lost with its worker: computed keys come back, scattered ones are lost', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const [first, second] = cluster.workers;
  const scattered = await client.scatter(['only here'], { workers: second!.address, hash: false });
  const computed = client.with({ workers: second!.address, allowOtherWorkers: true }).submit(inc, 41);
  t.equal(await computed.result(), 42);
  t.same((await client.whoHas([computed]))[computed.key], [second!.address]);

  await second!.close();
  t.ok(await until(() => scattered[0]!.status === 'lost'), 'the scattered future becomes lost');
  await t.rejects(scattered[0]!.result(), LostDataError);
  await t.rejects(wait(scattered[0]!), LostDataError, 'waiting on it does not hang');

  t.equal(await client.submit(inc, computed).result(), 43, 'a computed key is recomputed where it can run');
  t.equal(computed.status, 'finished');
  t.same((await client.whoHas([computed]))[computed.key], [first!.address]);

  const again = await client.scatter(['only here'], { workers: first!.address, hash: false });
  t.equal(await again[0]!.result(), 'only here', 'new data can be scattered');
});

t.test('losing the scheduler fails waiting futures instead of hanging', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  const slow = client.submit(async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return ms;
  }, 2000);
  const waiting = t.rejects(slow.result(), CommClosedError);
  await cluster.close();
  await waiting;
  t.equal(client.status, 'closed');
  await t.rejects(client.gather([slow]), CommClosedError);
  await client.close();
});
