/**
 * Hostile and broken connections on the scheduler's and a worker's TCP ports
 * harm nothing; Scheduler, Worker and Nanny started from a program close
 * without leaking handles.
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { Client, Nanny, Scheduler, Worker } from '../dist/index.js';

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.on('error', reject);
  });
}

async function abuse(port: number): Promise<Socket[]> {
  const kept: Socket[] = [];
  // random bytes
  const garbage = await openSocket(port);
  garbage.on('error', () => undefined);
  garbage.write(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)));
  kept.push(garbage);
  // a header that promises a huge frame, then nothing
  const huge = await openSocket(port);
  huge.on('error', () => undefined);
  const header = Buffer.alloc(16, 0xff);
  huge.write(header);
  kept.push(huge);
  // half-open: connected, never says a word
  const silent = await openSocket(port);
  silent.on('error', () => undefined);
  kept.push(silent);
  // half of a plausible frame, then half-close
  const partial = await openSocket(port);
  partial.on('error', () => undefined);
  partial.end(Buffer.from([0, 0, 0, 0, 0, 0, 0, 40, 1, 2, 3]));
  kept.push(partial);
  // connect and reset at once
  const reset = await openSocket(port);
  reset.on('error', () => undefined);
  reset.resetAndDestroy();
  return kept;
}

t.test('garbage and half-open connections on scheduler and worker ports harm nothing', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const nannies = await Promise.all([0, 1].map((i) => Nanny.start(scheduler.address, { nthreads: 1, name: `n${i}` })));
  t.teardown(() => Promise.all(nannies.map((n) => n.close())));
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());
  const pids = nannies.map((n) => n.workerPid);
  const sockets = [...(await abuse(portOf(scheduler.address))), ...(await abuse(portOf(nannies[0]!.workerAddress!)))];
  t.teardown(() => sockets.forEach((s) => s.destroy()));

  const futures = client.map((x: number) => x + 1, Array.from({ length: 200 }, (_, i) => i));
  const total = (await client.gather(futures)).reduce((a, b) => a + b, 0);
  t.equal(total, 20_100, 'the cluster keeps computing');
  // work that moves data between the two workers (the abused one included)
  const [left] = await client.scatter([41], { workers: [nannies[0]!.workerAddress!] });
  const moved = client.with({ workers: [nannies[1]!.workerAddress!] }).submit((x: number) => x + 1, left!);
  t.equal(await moved.result(), 42, 'worker-to-worker transfer still works');
  t.equal(Object.keys(await client.nthreads()).length, 2, 'no worker was lost and no stranger registered');
  t.same(nannies.map((n) => n.workerPid), pids, 'no worker process was restarted');
});

t.test('Scheduler, Worker and Nanny started and closed from a program leak no handles', async (t) => {
  const census = (): Map<string, number> => {
    const out = new Map<string, number>();
    for (const kind of process.getActiveResourcesInfo()) out.set(kind, (out.get(kind) ?? 0) + 1);
    return out;
  };
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));
  await settle();
  const before = census();

  const scheduler = await Scheduler.start({ port: 0 });
  const worker = await Worker.start(scheduler.address, { nthreads: 2 });
  const nanny = await Nanny.start(scheduler.address, { nthreads: 1 });
  const client = await Client.connect(scheduler);
  t.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
  t.ok(census().size > 0);
  await client.close();
  await nanny.close();
  await worker.close();
  await scheduler.close();
  await settle();

  const after = census();
  for (const [kind, count] of after) {
    t.ok(count <= (before.get(kind) ?? 0), `${kind}: ${count} after, ${before.get(kind) ?? 0} before`);
  }
});

t.test('Scheduler.start({ inproc: true }): a client in this program connects without TCP, workers over TCP', async (t) => {
  const scheduler = await Scheduler.start({ port: 0, inproc: true });
  t.teardown(() => scheduler.close());
  t.match(scheduler.address, /^tcp:\/\//);
  t.match(scheduler.inprocAddress, /^inproc:\/\//);
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => worker.close());
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());
  t.equal(client.schedulerAddress, scheduler.address);
  t.ok([...scheduler.peers].some((peer) => peer.address.startsWith('inproc://')), 'the client peer is in-process');
  t.equal(await client.submit((x: number) => x * 3, 14).result(), 42);
  const plain = await Scheduler.start({ port: 0 });
  t.teardown(() => plain.close());
  t.equal(plain.inprocAddress, undefined, 'without the option there is no in-process address');
});
