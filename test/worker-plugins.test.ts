/** Worker plugins: sent by source, constructed on every current and future worker, replaced by name, failures contained. */
import t from 'tap';
import { Client, LocalCluster, Worker } from '../dist/index.js';

interface Recorded {
  tag: string;
  n: number;
  address: string;
  transitions: string[];
  tornDown: boolean;
}

class Recorder {
  address = '';
  transitions: string[] = [];
  tornDown = false;
  constructor(public tag: string, public n: number) {}
  setup(worker: { address: string }): void {
    this.address = worker.address;
  }
  teardown(): void {
    this.tornDown = true;
  }
  transition(key: string, start: string, finish: string): void {
    this.transitions.push(`${key}:${start}>${finish}`);
  }
}

t.test('registerWorkerPlugin on an in-process cluster', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: false, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());

  const reply = await client.registerWorkerPlugin(Recorder, 'first', 1, { name: 'rec' });
  t.same(Object.keys(reply).sort(), [...cluster.workerAddresses].sort());
  const plugins = (): Recorded[] => cluster.workers.map((w) => w.plugins.get('rec') as unknown as Recorded);
  for (const [i, plugin] of plugins().entries()) {
    t.match(plugin, { tag: 'first', n: 1, address: cluster.workers[i]!.address }, 'constructed with the arguments and set up with its worker');
  }

  const future = client.submit((x: number) => x + 1, 1);
  t.equal(await future.result(), 2);
  const ran = plugins().find((p) => p.transitions.some((tr) => tr.startsWith(`${future.key}:`)));
  t.ok(ran, 'the worker that ran the task told its plugin');
  t.ok(ran!.transitions.includes(`${future.key}:executing>memory`), `transitions: ${ran!.transitions.join(' ')}`);

  // A worker that joins later gets the plugin too.
  const late = await Worker.start(cluster.schedulerAddress, { nthreads: 1 });
  t.teardown(() => late.close());
  await client.waitForWorkers(3);
  await client.with({ workers: [late.address] }).submit((x: number) => x * 3, 5).result();
  t.match(late.plugins.get('rec'), { tag: 'first', address: late.address });

  // The same name replaces: the old one is torn down first.
  const old = plugins();
  await client.registerWorkerPlugin(Recorder, 'second', 2, { name: 'rec' });
  t.ok(old.every((p) => p.tornDown), 'old instances torn down');
  t.ok(plugins().every((p) => p.tag === 'second' && !p.tornDown));
  t.equal((late.plugins.get('rec') as unknown as Recorded).tag, 'second');

  // Default name: the class name; a throwing transition hook changes nothing.
  class Noisy {
    transition(): void {
      throw new Error('noisy hook');
    }
  }
  await client.registerWorkerPlugin(Noisy);
  t.same(cluster.workers[0]!.plugins.names().sort(), ['Noisy', 'rec']);
  t.same(await client.gather(client.map((x: number) => x * 2, [1, 2, 3])), [2, 4, 6], 'tasks run on');

  // A failing setup rejects with its error, and the plugin is not kept.
  class Refuses {
    setup(): void {
      throw new RangeError('cannot set up here');
    }
  }
  await t.rejects(client.registerWorkerPlugin(Refuses), { name: 'RangeError', message: 'cannot set up here' });
  t.notOk(cluster.workers[0]!.plugins.names().includes('Refuses'));
  await t.rejects(client.registerWorkerPlugin('not a class' as never), TypeError);

  await client.unregisterWorkerPlugin('Noisy');
  t.same(cluster.workers[0]!.plugins.names(), ['rec']);
  await t.rejects(client.unregisterWorkerPlugin('Noisy'), /no worker plugin named/);

  const last = late.plugins.get('rec') as unknown as Recorded;
  await late.close();
  t.ok(last.tornDown, 'teardown on close');
});

t.test('worker plugins reach worker processes over TCP', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: true, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  class Marks {
    constructor(private readonly mark: string) {}
    setup(worker: { address: string }): void {
      (globalThis as { pluginMark?: string }).pluginMark = `${this.mark}@${worker.address}`;
    }
  }
  await client.registerWorkerPlugin(Marks, 'm1');
  const marks = await client.run(() => (globalThis as { pluginMark?: string }).pluginMark);
  for (const address of cluster.workerAddresses) t.equal(marks[address], `m1@${address}`);
});
