/** `dworker` command line -> what to start: N nannies (or one in-process worker) and their options. */
import { availableParallelism, totalmem } from 'node:os';
import { parseDuration } from '../units.js';
import { parseHost, parsePort, parseSchedulerAddress } from './address.js';
import { parseMemoryLimit } from './memory-limit.js';
import { booleanFlag, listFlag, parseFlags, stringFlag, type FlagSpecs } from './parse-flags.js';
import { parseResources } from './resources.js';
import { TLS_FLAG_SPECS, TLS_HELP, TLS_USAGE, tlsSecurity } from './tls-flags.js';
import { UsageError } from './usage-error.js';
import type { Security } from '../comm/security.js';

export const DEFAULT_DEATH_TIMEOUT_MS = 60_000;

export interface WorkerCliOptions {
  schedulerAddress: string;
  nprocs: number;
  nthreads: number;
  /** Base name; with nprocs > 1 each worker gets `-0`, `-1`… (see workerNames). */
  name?: string;
  nanny: boolean;
  /** Bytes per worker process; undefined = no limit. */
  memoryLimit?: number;
  resources: Record<string, number>;
  preload: string[];
  host: string;
  /** The port of each worker process, in order (0 = any free port). */
  ports: number[];
  /** Milliseconds to reach the scheduler before giving up. */
  deathTimeout: number;
  /** From --tls-*: every connection is tls://. */
  security?: Security;
}

export type WorkerCommand = { kind: 'help'; text: string } | { kind: 'run'; options: WorkerCliOptions };

export const WORKER_USAGE =
  'usage: dworker SCHEDULER_ADDRESS [--nprocs N] [--nthreads T] [--name NAME] [--no-nanny] [--memory-limit SIZE] ' +
  '[--resources "NAME=AMOUNT ..."] [--preload MODULE] [--host HOST] [--port PORT|START:END] [--death-timeout DURATION] ' +
  TLS_USAGE;

export const WORKER_HELP = `${WORKER_USAGE}

Start worker processes for the scheduler at SCHEDULER_ADDRESS (tcp://HOST:PORT, tls://HOST:PORT, HOST:PORT or HOST)
and print, for each, "Start worker at tcp://..." and "Registered with scheduler at tcp://...".

Options:
  --nprocs N                 worker processes, each supervised by a nanny (default 1)
  --nthreads T               threads per worker (default: CPUs / nprocs, at least 1)
  --name NAME                worker name; with --nprocs > 1 the workers are NAME-0, NAME-1, ...
  --no-nanny                 run the worker in this process, without a supervising nanny (--nprocs 1 only)
  --memory-limit SIZE        per process: auto (default), 0 (none), a fraction like 0.5, or 2GB / 512MiB;
                             the nanny pauses the worker at 80% and restarts it at 95%
  --resources "GPU=1 MEM=2e9"  abstract resources this worker offers to tasks
  --preload MODULE           module (path or package) imported in every worker and in each of its task
                             threads; its setup(worker) runs at start and teardown(worker) at close, its
                             setupThread() in each task thread (repeatable)
  --host HOST                address to bind (default 127.0.0.1; 0.0.0.0 for every interface,
                             advertising this machine's first external address)
  --port PORT|START:END      worker port (default 0 = any free port); with --nprocs N > 1 a range
                             of at least N ports, one per process (e.g. 9000:9009)
  --death-timeout DURATION   keep retrying an unreachable scheduler (and keep data) this long, then exit (default 60s)
${TLS_HELP}
  -h, --help                 show this help and exit
  -V, --version              print the version and exit

SIGINT or SIGTERM closes the workers (they unregister) and their processes.
`;

const specs: FlagSpecs = {
  nprocs: { type: 'string' },
  nworkers: { type: 'string' },
  nthreads: { type: 'string' },
  name: { type: 'string' },
  nanny: { type: 'boolean' },
  'no-nanny': { type: 'boolean' },
  'memory-limit': { type: 'string' },
  resources: { type: 'string' },
  preload: { type: 'string', multiple: true },
  host: { type: 'string' },
  port: { type: 'string' },
  'death-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...TLS_FLAG_SPECS,
};

function positiveInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) {
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export interface MachineFacts {
  cpus: number;
  totalMemory: number;
}

const thisMachine = (): MachineFacts => ({ cpus: availableParallelism(), totalMemory: totalmem() });

export function parseWorkerArgs(argv: readonly string[], machine: MachineFacts = thisMachine()): WorkerCommand {
  const flags = parseFlags(argv, specs);
  if (booleanFlag(flags, 'help')) return { kind: 'help', text: WORKER_HELP };

  if (flags.positionals.length === 0) throw new UsageError('missing SCHEDULER_ADDRESS (e.g. dworker tcp://127.0.0.1:8786)');
  if (flags.positionals.length > 1) {
    throw new UsageError(`dworker takes one SCHEDULER_ADDRESS, got ${flags.positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  }
  const security = tlsSecurity(flags);
  // With TLS flags an address without a scheme means tls://.
  const schedulerAddress = parseSchedulerAddress(flags.positionals[0]!, security === undefined ? 'tcp' : 'tls');
  if (security !== undefined && schedulerAddress.startsWith('tcp://')) {
    throw new UsageError(`--tls-* given but the scheduler address is ${schedulerAddress}: use tls://`);
  }

  const nprocsText = stringFlag(flags, 'nprocs');
  const nworkersText = stringFlag(flags, 'nworkers');
  if (nprocsText !== undefined && nworkersText !== undefined) throw new UsageError('give --nprocs or --nworkers, not both');
  const nprocs = positiveInteger(nprocsText ?? nworkersText ?? '1', nprocsText !== undefined || nworkersText === undefined ? '--nprocs' : '--nworkers');

  if (booleanFlag(flags, 'nanny') && booleanFlag(flags, 'no-nanny')) throw new UsageError('give --nanny or --no-nanny, not both');
  const nanny = !booleanFlag(flags, 'no-nanny');
  if (!nanny && nprocs > 1) throw new UsageError('--nprocs greater than 1 needs the nanny: drop --no-nanny');

  const nthreadsText = stringFlag(flags, 'nthreads');
  const nthreads =
    nthreadsText === undefined || nthreadsText.trim() === '0'
      ? Math.max(1, Math.floor(machine.cpus / nprocs))
      : positiveInteger(nthreadsText, '--nthreads');

  const name = stringFlag(flags, 'name');
  if (name !== undefined && name.trim() === '') throw new UsageError('--name must not be empty');

  const ports = workerPorts(stringFlag(flags, 'port'), nprocs);

  const hostText = stringFlag(flags, 'host');

  const deathTimeoutText = stringFlag(flags, 'death-timeout');
  let deathTimeout = DEFAULT_DEATH_TIMEOUT_MS;
  if (deathTimeoutText !== undefined) {
    try {
      // A bare number is seconds, as in dask's --death-timeout.
      deathTimeout = /^\s*\d+(\.\d+)?\s*$/.test(deathTimeoutText) ? Number(deathTimeoutText) * 1000 : parseDuration(deathTimeoutText);
    } catch {
      throw new UsageError(`invalid --death-timeout ${JSON.stringify(deathTimeoutText)}: expected a duration like 10s or 500ms`);
    }
    if (!(deathTimeout > 0)) throw new UsageError('--death-timeout must be greater than 0');
  }

  const memoryText = stringFlag(flags, 'memory-limit');
  const memoryLimit = parseMemoryLimit(memoryText ?? 'auto', nprocs, machine.totalMemory);
  const resourcesText = stringFlag(flags, 'resources');

  return {
    kind: 'run',
    options: {
      schedulerAddress,
      nprocs,
      nthreads,
      ...(name === undefined ? {} : { name: name.trim() }),
      nanny,
      ...(memoryLimit === undefined ? {} : { memoryLimit }),
      resources: resourcesText === undefined ? {} : parseResources(resourcesText),
      preload: listFlag(flags, 'preload'),
      host: hostText === undefined ? '127.0.0.1' : parseHost(hostText),
      ports,
      deathTimeout,
      ...(security === undefined ? {} : { security }),
    },
  };
}

/** The name of each of `nprocs` workers: NAME alone, or NAME-0, NAME-1… when there are several. */
/** `--port`: nothing (any free ports), one port (one process), or START:END with room for every process. */
function workerPorts(text: string | undefined, nprocs: number): number[] {
  if (text === undefined) return Array.from({ length: nprocs }, () => 0);
  const range = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  if (range === null) {
    const port = parsePort(text, '--port');
    if (port !== 0 && nprocs > 1) {
      throw new UsageError(`--port ${port} with --nprocs ${nprocs}: several workers cannot share one port; give a range such as ${port}:${port + nprocs - 1}`);
    }
    return Array.from({ length: nprocs }, () => port);
  }
  const start = parsePort(range[1]!, 'the first port of --port', false);
  const end = parsePort(range[2]!, 'the last port of --port', false);
  if (end < start) throw new UsageError(`--port ${text.trim()}: the range ends before it starts`);
  if (end - start + 1 < nprocs) throw new UsageError(`--port ${text.trim()} has ${end - start + 1} ports for ${nprocs} worker processes`);
  return Array.from({ length: nprocs }, (_, i) => start + i);
}

export function workerNames(name: string | undefined, nprocs: number): (string | undefined)[] {
  if (name === undefined) return Array.from({ length: nprocs }, () => undefined);
  if (nprocs === 1) return [name];
  return Array.from({ length: nprocs }, (_, i) => `${name}-${i}`);
}
