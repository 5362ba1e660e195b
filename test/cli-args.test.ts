import t from 'tap';
import { parseFlags } from '../dist/lib/cli/parse-flags.js';
import { parseSchedulerArgs } from '../dist/lib/cli/scheduler-args.js';
import { parseWorkerArgs, workerNames, DEFAULT_DEATH_TIMEOUT_MS } from '../dist/lib/cli/worker-args.js';
import { parseSchedulerAddress, parseHost, parsePort } from '../dist/lib/cli/address.js';
import { parseResources } from '../dist/lib/cli/resources.js';
import { parseMemoryLimit } from '../dist/lib/cli/memory-limit.js';
import { UsageError } from '../dist/lib/cli/usage-error.js';

const machine = { cpus: 8, totalMemory: 16e9 };

function usageError(t: { ok(value: unknown, message?: string): void }, fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof UsageError && pattern.test(caught.message), `UsageError matching ${String(pattern)} (got ${String(caught)})`);
}

t.test('parseFlags: forms, positionals, repeats and strictness', async (t) => {
  const specs = { port: { type: 'string' as const, short: 'p' }, verbose: { type: 'boolean' as const }, preload: { type: 'string' as const, multiple: true } };
  t.same(parseFlags(['a', '--port', '1', '--verbose', 'b'], specs), { values: { port: '1', verbose: true }, positionals: ['a', 'b'] });
  t.same(parseFlags(['--port=2'], specs).values, { port: '2' });
  t.same(parseFlags(['-p', '3'], specs).values, { port: '3' });
  t.same(parseFlags(['--preload', 'x', '--preload=y'], specs).values, { preload: ['x', 'y'] });
  t.same(parseFlags(['--', '--port'], specs).positionals, ['--port']);
  t.same(parseFlags(['-1'], specs).positionals, ['-1'], 'negative numbers are positionals');
  usageError(t, () => parseFlags(['--bogus'], specs), /unknown option --bogus/);
  usageError(t, () => parseFlags(['-x'], specs), /unknown option -x/);
  usageError(t, () => parseFlags(['--port'], specs), /--port needs a value/);
  usageError(t, () => parseFlags(['--port', '--verbose'], specs), /--port needs a value/);
  usageError(t, () => parseFlags(['--verbose=yes'], specs), /takes no value/);
  usageError(t, () => parseFlags(['--port', '1', '--port', '2'], specs), /more than once/);
  usageError(t, () => parseFlags(['--constructor'], specs), /unknown option --constructor/);
});

t.test('addresses, hosts and ports', async (t) => {
  t.equal(parseSchedulerAddress('tcp://10.0.0.1:9000'), 'tcp://10.0.0.1:9000');
  t.equal(parseSchedulerAddress('10.0.0.1:9000'), 'tcp://10.0.0.1:9000');
  t.equal(parseSchedulerAddress('sched.local'), 'tcp://sched.local:8786');
  t.equal(parseSchedulerAddress('[::1]:8786'), 'tcp://[::1]:8786');
  usageError(t, () => parseSchedulerAddress('inproc://x'), /must be tcp:\/\//);
  usageError(t, () => parseSchedulerAddress('host:99999'), /between 1 and 65535/);
  usageError(t, () => parseSchedulerAddress('host:0'), /between 1 and 65535/);
  usageError(t, () => parseSchedulerAddress('a b'), /invalid scheduler address/);
  t.equal(parsePort('0', '--port'), 0);
  usageError(t, () => parsePort('80a', '--port'), /must be a port number/);
  t.equal(parseHost('0.0.0.0'), '0.0.0.0');
  t.equal(parseHost('[::1]'), '::1');
  usageError(t, () => parseHost('tcp://x'), /host name or IP/);
});

t.test('resources and memory limits', async (t) => {
  t.same(parseResources('GPU=1 MEM=2e9'), { GPU: 1, MEM: 2e9 });
  t.same(parseResources('GPU=2,FOO=0.5'), { GPU: 2, FOO: 0.5 });
  t.same(parseResources('  '), {});
  usageError(t, () => parseResources('GPU'), /expected NAME=AMOUNT/);
  usageError(t, () => parseResources('GPU=lots'), /invalid amount/);
  usageError(t, () => parseResources('GPU=-1'), /invalid amount/);
  usageError(t, () => parseResources('GPU=1 GPU=2'), /given twice/);

  t.equal(parseMemoryLimit('2GB', 1, 16e9), 2e9);
  t.equal(parseMemoryLimit('512MiB', 1, 16e9), 512 * 2 ** 20);
  t.equal(parseMemoryLimit('4e9', 1, 16e9), 4e9);
  t.equal(parseMemoryLimit('auto', 4, 16e9), 4e9);
  t.equal(parseMemoryLimit('0.5', 1, 16e9), 8e9);
  t.equal(parseMemoryLimit('0', 1, 16e9), undefined);
  t.equal(parseMemoryLimit('none', 1, 16e9), undefined);
  usageError(t, () => parseMemoryLimit('lots', 1, 16e9), /invalid --memory-limit/);
  usageError(t, () => parseMemoryLimit('2XB', 1, 16e9), /invalid --memory-limit/);
});

t.test('dscheduler arguments', async (t) => {
  t.same(parseSchedulerArgs([]), { kind: 'run', options: { host: '127.0.0.1', port: 8786, dashboardAddress: ':8787', dashboardFallback: true, preload: [] } });
  t.same(parseSchedulerArgs(['--host', '0.0.0.0', '--port', '0', '--dashboard-address', ':8788', '--preload', 'a.js', '--preload', 'b']), {
    kind: 'run',
    options: { host: '0.0.0.0', port: 0, dashboardAddress: ':8788', dashboardFallback: false, preload: ['a.js', 'b'] },
  });
  t.same(parseSchedulerArgs(['--no-dashboard']), { kind: 'run', options: { host: '127.0.0.1', port: 8786, dashboardAddress: false, dashboardFallback: false, preload: [] } });
  usageError(t, () => parseSchedulerArgs(['--no-dashboard', '--dashboard-address', ':1']), /not both/);
  const help = parseSchedulerArgs(['--help']);
  t.equal(help.kind, 'help');
  t.match(help.kind === 'help' ? help.text : '', /--port[\s\S]*--host[\s\S]*--dashboard-address|--host[\s\S]*--port[\s\S]*--dashboard-address/);
  t.equal(parseSchedulerArgs(['-h']).kind, 'help');
  usageError(t, () => parseSchedulerArgs(['--port', 'http']), /--port must be a port number/);
  usageError(t, () => parseSchedulerArgs(['extra']), /no positional arguments/);
  usageError(t, () => parseSchedulerArgs(['--dashboard-address', 'nowhere']), /invalid --dashboard-address/);
});

t.test('dworker arguments: defaults', async (t) => {
  const command = parseWorkerArgs(['127.0.0.1:8786'], machine);
  t.same(command, {
    kind: 'run',
    options: {
      schedulerAddress: 'tcp://127.0.0.1:8786',
      nprocs: 1,
      nthreads: 8,
      nanny: true,
      memoryLimit: 16e9,
      resources: {},
      preload: [],
      host: '127.0.0.1',
      ports: [0],
      deathTimeout: DEFAULT_DEATH_TIMEOUT_MS,
    },
  });
});

t.test('dworker arguments: every flag', async (t) => {
  const command = parseWorkerArgs(
    ['tcp://h:1', '--nprocs', '2', '--nthreads', '3', '--name', 'w', '--memory-limit', '1GB', '--resources', 'GPU=1 MEM=2e9',
      '--preload', './a.js', '--preload', 'pkg', '--host', '0.0.0.0', '--death-timeout', '2s'],
    machine,
  );
  t.equal(command.kind, 'run');
  if (command.kind !== 'run') return;
  t.same(command.options, {
    schedulerAddress: 'tcp://h:1', nprocs: 2, nthreads: 3, name: 'w', nanny: true, memoryLimit: 1e9,
    resources: { GPU: 1, MEM: 2e9 }, preload: ['./a.js', 'pkg'], host: '0.0.0.0', ports: [0, 0], deathTimeout: 2000,
  });
  const derived = parseWorkerArgs(['h', '--nprocs', '3', '--death-timeout', '1.5'], machine);
  t.equal(derived.kind === 'run' && derived.options.nthreads, 2, 'nthreads defaults to cpus / nprocs');
  t.equal(derived.kind === 'run' && derived.options.deathTimeout, 1500, 'a bare --death-timeout is seconds');
  t.equal(derived.kind === 'run' && derived.options.memoryLimit, Math.floor(16e9 / 3), 'auto memory is shared');
  const single = parseWorkerArgs(['h', '--no-nanny', '--port', '9000'], machine);
  t.same(single.kind === 'run' && [single.options.nanny, single.options.ports], [false, [9000]]);
  const ranged = parseWorkerArgs(['h', '--nprocs', '3', '--port', '9000:9010'], machine);
  t.same(ranged.kind === 'run' && ranged.options.ports, [9000, 9001, 9002], 'a range gives each process its own port');
  const exact = parseWorkerArgs(['h', '--nprocs', '2', '--port', '9000:9001'], machine);
  t.same(exact.kind === 'run' && exact.options.ports, [9000, 9001]);
  t.equal(parseWorkerArgs(['--help'], machine).kind, 'help', '--help needs no scheduler address');
});

t.test('dworker arguments: clear errors', async (t) => {
  usageError(t, () => parseWorkerArgs([], machine), /missing SCHEDULER_ADDRESS/);
  usageError(t, () => parseWorkerArgs(['a', 'b'], machine), /one SCHEDULER_ADDRESS/);
  usageError(t, () => parseWorkerArgs(['h', '--nprocs', '0'], machine), /--nprocs must be a positive integer/);
  usageError(t, () => parseWorkerArgs(['h', '--nthreads', 'two'], machine), /--nthreads must be a positive integer/);
  usageError(t, () => parseWorkerArgs(['h', '--nprocs', '2', '--no-nanny'], machine), /needs the nanny/);
  usageError(t, () => parseWorkerArgs(['h', '--nprocs', '2', '--port', '9000'], machine), /cannot share one port; give a range such as 9000:9001/);
  usageError(t, () => parseWorkerArgs(['h', '--nprocs', '3', '--port', '9000:9001'], machine), /has 2 ports for 3 worker processes/);
  usageError(t, () => parseWorkerArgs(['h', '--port', '9001:9000'], machine), /ends before it starts/);
  usageError(t, () => parseWorkerArgs(['h', '--port', '0:5'], machine), /first port of --port must be between 1 and 65535/);
  usageError(t, () => parseWorkerArgs(['h', '--port', '9000:70000'], machine), /last port of --port must be between 1 and 65535/);
  usageError(t, () => parseWorkerArgs(['h', '--death-timeout', 'soon'], machine), /invalid --death-timeout/);
  usageError(t, () => parseWorkerArgs(['h', '--death-timeout', '0'], machine), /greater than 0/);
  usageError(t, () => parseWorkerArgs(['h', '--name', ' '], machine), /--name must not be empty/);
  usageError(t, () => parseWorkerArgs(['h', '--nprocs', '1', '--nworkers', '1'], machine), /not both/);
  usageError(t, () => parseWorkerArgs(['h', '--threads', '1'], machine), /unknown option --threads/);
});

t.test('worker names get -0, -1 suffixes only when there are several', async (t) => {
  t.same(workerNames('w', 1), ['w']);
  t.same(workerNames('w', 3), ['w-0', 'w-1', 'w-2']);
  t.same(workerNames(undefined, 2), [undefined, undefined]);
});
