/** Worker processes dying under a real scheduler: nannies bring them back, lost results are recomputed, killers err. */
import t from 'tap';
import { Scheduler } from '../dist/actors/scheduler.js';
import { Nanny } from '../dist/actors/nanny.js';
import { Client } from '../dist/index.js';
import { waitUntil } from './fixtures/cli-process.js';

type FutureLike = { key: string; done(): boolean; result(): Promise<unknown> };

t.test('two nannies: a lost only copy is recomputed; a worker-killing task ends in KilledWorker', async (t) => {
  const scheduler = await Scheduler.start({ port: 0, allowedFailures: 1 });
  t.teardown(() => scheduler.close());
  const nannies = await Promise.all([0, 1].map((i) => Nanny.start(scheduler.address, { nthreads: 1, name: `r-${i}` })));
  t.teardown(() => Promise.all(nannies.map((n) => n.close())));
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  await client.waitForWorkers(2, { timeout: 10_000 });

  const x = client.submit((a: number) => a * 2, 21) as FutureLike;
  t.equal(await x.result(), 42);
  const holders = (await client.whoHas(x as never))[x.key] ?? [];
  t.equal(holders.length, 1, 'one copy');
  const holder = nannies.find((n) => n.workerAddress === holders[0])!;
  t.ok(holder, 'held by one of our nannies');
  const before = holder.restarts;
  process.kill(holder.workerPid!, 'SIGKILL');
  const y = client.submit((v: number) => v + 1, x) as FutureLike;
  t.equal(await y.result(), 43, 'the dependent ran on a recomputed copy');
  await waitUntil(() => holder.restarts === before + 1 && holder.workerAddress !== undefined, 10_000, 'the nanny restarted its worker');

  const killer = client.submit(() => {
    process.kill(process.pid, 'SIGKILL');
    return 0;
  }) as FutureLike;
  await t.rejects(killer.result(), { name: 'KilledWorker', message: /on 2 different workers/ });
  await client.waitForWorkers(2, { timeout: 15_000 });
  const doubled = client.map((v: number) => v * 2, [1, 2, 3, 4]) as FutureLike[];
  t.same(await Promise.all(doubled.map((f) => f.result())), [2, 4, 6, 8], 'the cluster keeps working');
});

t.test('a 256-leaf tree reduction survives worker processes being killed under it', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const nannies = await Promise.all([0, 1].map(() => Nanny.start(scheduler.address, { nthreads: 1 })));
  t.teardown(() => Promise.all(nannies.map((n) => n.close())));
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  await client.waitForWorkers(2, { timeout: 10_000 });

  const slowInc = (v: number): number => {
    const until = Date.now() + 4;
    while (Date.now() < until);
    return v + 1;
  };
  let layer = client.map(slowInc, Array.from({ length: 256 }, (_, i) => i)) as FutureLike[];
  while (layer.length > 1) {
    const next: FutureLike[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(client.submit((a: number, b: number) => a + b, layer[i], layer[i + 1]) as FutureLike);
    layer = next;
  }
  const kills: number[] = [];
  const doneAtKill: boolean[] = [];
  for (const delay of [150, 500]) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    doneAtKill.push(layer[0]!.done());
    const alive = nannies.filter((n) => n.workerPid !== undefined);
    const victim = alive[kills.length % alive.length];
    if (victim?.workerPid !== undefined) {
      kills.push(victim.workerPid);
      process.kill(victim.workerPid, 'SIGKILL');
    }
  }
  t.equal(kills.length, 2, 'two worker processes were killed');
  t.same(doneAtKill, [false, false], 'while the reduction was still running');
  t.equal(await layer[0]!.result(), (256 * 257) / 2, 'the reduction is right');
  t.ok(nannies.reduce((n, nanny) => n + nanny.restarts, 0) >= 2, 'the nannies restarted the killed workers');
});
