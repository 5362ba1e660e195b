/** Scheduler plugins: hooks on a real scheduler with real workers and clients, a read-only view, failures contained, --preload. */
import t from 'tap';
import { Client, ReadOnlyViewError, Scheduler, Worker, type SchedulerPlugin, type SchedulerView } from '../dist/index.js';
import { CliProcess, runCli } from './fixtures/cli-process.js';

class Recorder implements SchedulerPlugin {
  name = 'recorder';
  events: string[] = [];
  transitions: Array<[string, string, string, string | undefined]> = [];
  graphs: Array<{ client: string; keys: string[]; tasks: string[] }> = [];
  refused: string[] = [];
  view: SchedulerView | undefined;
  start(scheduler: SchedulerView): void {
    this.view = scheduler;
    this.events.push('start');
    // The view is read-only: each of these writes must throw, not change the scheduler.
    for (const [what, attempt] of [
      ['tasks.clear', () => scheduler.tasks.clear()],
      ['workers.delete', () => scheduler.workers.delete('x')],
      ['state.totalNthreads', () => ((scheduler.state as { totalNthreads: number }).totalNthreads = 99)],
    ] as const) {
      try {
        attempt();
      } catch (error) {
        if (error instanceof ReadOnlyViewError) this.refused.push(what);
      }
    }
  }
  updateGraph(_s: SchedulerView, info: { client: string; keys: string[]; tasks: string[] }): void {
    this.graphs.push(info);
  }
  transition(key: string, start: string, finish: string, info: { worker?: string }): void {
    this.transitions.push([key, start, finish, info.worker]);
    if (finish === 'memory') {
      const ts = this.view!.tasks.get(key)!;
      // reading live records works; writing them throws
      if (ts.state !== 'memory') throw new Error('the view is not live');
      try {
        (ts as { nbytes: number }).nbytes = -5;
      } catch (error) {
        if (error instanceof ReadOnlyViewError && !this.refused.includes('task.nbytes')) this.refused.push('task.nbytes');
      }
    }
  }
  addWorker(_s: SchedulerView, worker: string): void { this.events.push(`add-worker ${worker}`); }
  removeWorker(_s: SchedulerView, worker: string): void { this.events.push(`remove-worker ${worker}`); }
  addClient(_s: SchedulerView, client: string): void { this.events.push(`add-client ${client}`); }
  removeClient(_s: SchedulerView, client: string): void { this.events.push(`remove-client ${client}`); }
  close(): void { this.events.push('close'); }
}

class Thrower implements SchedulerPlugin {
  name = 'thrower';
  calls = 0;
  start(): void {}
  transition(): void { this.calls++; throw new Error('transition boom'); }
  updateGraph(): void { this.calls++; throw new Error('updateGraph boom'); }
  addWorker(): Promise<void> { this.calls++; return Promise.reject(new Error('async boom')); }
  addClient(): void { this.calls++; throw new Error('addClient boom'); }
  removeClient(): void { this.calls++; throw new Error('removeClient boom'); }
  removeWorker(): void { this.calls++; throw new Error('removeWorker boom'); }
  close(): void { this.calls++; throw new Error('close boom'); }
}

t.test('hooks see graphs, transitions, workers and clients; a throwing plugin changes nothing', async (t) => {
  const recorder = new Recorder();
  const thrower = new Thrower();
  const scheduler = await Scheduler.start({ port: 0, plugins: [thrower, recorder] });
  t.teardown(() => scheduler.close());
  t.same(recorder.events, ['start']);
  t.same(recorder.refused.sort(), ['state.totalNthreads', 'tasks.clear', 'workers.delete']);
  const worker = await Worker.start(scheduler.address, { nthreads: 2 });
  const client = await Client.connect(scheduler.address);
  const futures = client.map((x: number) => x + 1, [1, 2, 3]);
  t.same(await client.gather(futures), [2, 3, 4], 'work goes on while a plugin throws in every hook');
  const failed = client.submit(() => { throw new Error('no'); });
  await failed.exception();

  t.ok(recorder.events.includes(`add-worker ${worker.address}`));
  t.ok(recorder.events.some((e) => e.startsWith('add-client ')));
  t.equal(recorder.graphs.length, 2);
  t.same(recorder.graphs[0]!.keys, futures.map((f) => f.key));
  for (const f of futures) {
    const path = recorder.transitions.filter(([key]) => key === f.key).map(([, start, finish]) => `${start}>${finish}`);
    t.same(path.slice(0, 3), ['released>waiting', 'waiting>processing', 'processing>memory'], `transitions of ${f.key}`);
    t.same(recorder.transitions.find(([key, , finish]) => key === f.key && finish === 'memory')![3], worker.address, 'info names the worker');
  }
  t.ok(recorder.transitions.some(([key, , finish]) => key === failed.key && finish === 'erred'));
  t.ok(recorder.refused.includes('task.nbytes'), 'task records are read-only too');
  t.ok(thrower.calls >= 8, 'the thrower was called and its failures swallowed');

  const workerAddress = worker.address;
  await client.close();
  await worker.close();
  await scheduler.close();
  t.ok(recorder.events.some((e) => e.startsWith('remove-client ')));
  t.ok(recorder.events.includes(`remove-worker ${workerAddress}`));
  t.equal(recorder.events.at(-1), 'close');
});

t.test('addPlugin replaces a plugin of the same name; removePlugin; no observer without transition plugins', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  t.equal(scheduler.state.transitionObserver, undefined, 'no plugins: transitions cost one check');
  const first = new Recorder();
  const second = new Recorder();
  t.equal(await scheduler.addPlugin(first), 'recorder');
  t.type(scheduler.state.transitionObserver, 'function');
  await scheduler.addPlugin(second);
  t.same(first.events, ['start', 'close'], 'the old plugin was closed first');
  t.same(scheduler.plugins.names(), ['recorder']);
  t.equal(await scheduler.removePlugin('recorder'), true);
  t.equal(await scheduler.removePlugin('recorder'), false);
  t.equal(scheduler.state.transitionObserver, undefined);
  const onlyWorkers = { addWorker() {} };
  const name = await scheduler.addPlugin(onlyWorkers);
  t.match(name, /^Object-\d+$/, 'an unnamed plugin gets a name from its class');
  t.equal(scheduler.state.transitionObserver, undefined, 'a plugin without a transition hook adds no observer');
  await t.rejects(scheduler.addPlugin(null as unknown as SchedulerPlugin), TypeError);
});

t.test('dscheduler --preload adds a module\'s plugin and runs its setup; a broken hook is logged by name', async (t) => {
  const fixture = new URL('./fixtures/scheduler-plugin.mjs', import.meta.url).pathname;
  const scheduler = new CliProcess('dscheduler', ['--port', '0', '--preload', fixture], { ...process.env, DISTRIBUTED_LOG_LEVEL: 'warn' });
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [started] = await scheduler.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  await scheduler.waitForStdout(/^plugin setup done$/m);
  t.match(scheduler.stdout, /^plugin start tcp:\/\//m);
  const address = started![1]!;
  const worker = await Worker.start(address, { nthreads: 1 });
  t.teardown(() => worker.close());
  const client = await Client.connect(address);
  t.teardown(() => client.close());
  const future = client.submit((x: number) => x * 2, 21);
  t.equal(await future.result(), 42);
  await scheduler.waitForStdout(new RegExp(`^plugin memory ${future.key} from processing$`, 'm'));
  t.match(scheduler.stdout, new RegExp(`^plugin add-worker ${worker.address}$`, 'm'));
  t.match(scheduler.stderr, /broken-plugin.*(transition|addWorker) hook failed|"plugin":"broken-plugin"/);
  await client.close();
  await worker.close();
  t.same(await scheduler.stop('SIGTERM'), { code: 0, signal: null });
});

t.test('dscheduler --preload refuses a module with neither plugin nor setup', async (t) => {
  const fixture = new URL('./fixtures/remote-functions.mjs', import.meta.url).pathname;
  const run = await runCli('dscheduler', ['--port', '0', '--preload', fixture]);
  t.equal(run.code, 1);
  t.match(run.stderr, /exports neither `plugin` nor `setup\(scheduler\)`/);
});
