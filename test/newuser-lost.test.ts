// Lost data as a user sees it: a task on lost scattered data says which key; a result being recomputed is not 'finished'.
import t from 'tap';
import { Client, LocalCluster, LostDataError } from '../dist/index.js';

t.test('a task depending on lost scattered data gets LostDataError naming the key', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const [, second] = cluster.workers;
  const [scattered] = await client.scatter(['only here'], { workers: second!.address, hash: false });
  // Slow enough that its recomputation can be seen.
  const slow = (x: number) => new Promise<number>((resolve) => setTimeout(() => resolve(x + 1), 500));
  const computed = client.with({ workers: second!.address, allowOtherWorkers: true }).submit(slow, 41);
  t.equal(await computed.result(), 42);

  const statuses = new Set<string>();
  await second!.close();
  await new Promise<void>((resolve) => {
    const look = (): void => {
      statuses.add(computed.status);
      if (computed.status === 'lost') resolve();
      else setTimeout(look, 5);
    };
    look();
  });
  t.ok(statuses.has('lost'), 'a result being recomputed shows lost, not finished');
  t.equal(await computed.result(), 42, 'and comes back');
  t.equal(computed.status, 'finished');

  const dependent = client.submit((x: string) => x.length, scattered!);
  const error = await dependent.result().then(() => undefined, (e: unknown) => e);
  t.type(error, LostDataError);
  t.match(String((error as Error).message), scattered!.key, 'names the lost key');
  t.notMatch(String((error as Error).message), /unknown dependencies/);
});
