/** The built CLIs as processes: help, bad flags, and an unreachable or silent scheduler. */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { runCli, unusedPort } from './fixtures/cli-process.js';

t.test('--help on both commands exits 0 and lists the flags', async (t) => {
  const [worker, scheduler] = await Promise.all([runCli('dworker', ['--help']), runCli('dscheduler', ['--help'])]);
  t.equal(worker.code, 0);
  for (const flag of ['--nprocs', '--nthreads', '--name', '--no-nanny', '--memory-limit', '--resources', '--preload', '--host', '--port', '--death-timeout']) {
    t.match(worker.stdout, flag, `dworker --help mentions ${flag}`);
  }
  t.equal(scheduler.code, 0);
  for (const flag of ['--host', '--port', '--dashboard-address']) t.match(scheduler.stdout, flag, `dscheduler --help mentions ${flag}`);
  t.equal(worker.stderr + scheduler.stderr, '', 'help writes nothing to stderr');
});

t.test('bad flags exit 2 with a message and the usage line', async (t) => {
  const cases: ['dscheduler' | 'dworker', string[], RegExp][] = [
    ['dworker', ['tcp://127.0.0.1:8786', '--bogus'], /unknown option --bogus/],
    ['dworker', [], /missing SCHEDULER_ADDRESS/],
    ['dworker', ['tcp://127.0.0.1:8786', '--nprocs', 'many'], /--nprocs must be a positive integer/],
    ['dworker', ['tcp://127.0.0.1:8786', '--memory-limit', 'huge'], /invalid --memory-limit/],
    ['dworker', ['tcp://127.0.0.1:8786', '--resources', 'GPU'], /expected NAME=AMOUNT/],
    ['dscheduler', ['--port', '70000'], /--port must be between 0 and 65535/],
    ['dscheduler', ['--frobnicate'], /unknown option --frobnicate/],
  ];
  const runs = await Promise.all(cases.map(([bin, args]) => runCli(bin, args)));
  runs.forEach((run, i) => {
    const [bin, args, pattern] = cases[i]!;
    t.equal(run.code, 2, `${bin} ${args.join(' ')} exits 2`);
    t.match(run.stderr, pattern);
    t.match(run.stderr, new RegExp(`usage: ${bin}`));
    t.equal(run.stdout, '');
  });
});

t.test('dworker gives up on an unreachable scheduler within its death timeout', async (t) => {
  const port = await unusedPort();
  const run = await runCli('dworker', [`127.0.0.1:${port}`, '--death-timeout', '2s']);
  t.not(run.code, 0, 'non-zero exit');
  t.equal(run.signal, null, 'exited by itself');
  t.ok(run.ms < 15_000, `exited within seconds (${run.ms} ms)`);
  t.match(run.stderr, `tcp://127.0.0.1:${port}`, 'the message names the scheduler address');
  t.notMatch(run.stdout, /Start worker at/);
});

t.test('dworker gives up on a scheduler that accepts connections but never answers', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const run = await runCli('dworker', [`tcp://127.0.0.1:${port}`, '--death-timeout', '2s']);
  t.not(run.code, 0, 'non-zero exit');
  t.ok(run.ms < 18_000, `exited within seconds (${run.ms} ms)`);
  t.match(run.stderr, /127\.0\.0\.1/, 'the message names the scheduler');
  t.notMatch(run.stdout, /Start worker at/);
});
