/** `dcluster` command line -> SSHCluster options (kept free of the SSHCluster class itself). */
import { DEFAULT_SCHEDULER_PORT, parsePort } from './address.js';
import { booleanFlag, listFlag, parseFlags, stringFlag, type FlagSpecs } from './parse-flags.js';
import { UsageError } from './usage-error.js';

export interface DclusterOptions {
  hosts: string[];
  connectOptions: { port?: number; username?: string; privateKey?: string; options?: Record<string, string> };
  schedulerOptions: { port: number; dashboardAddress?: string };
  workerOptions: { nprocs: number; nthreads?: number; memoryLimit?: string; deathTimeout?: string };
  security?: { caFile: string; certFile: string; keyFile?: string };
  remoteNode: string;
  remotePackage?: string;
}

export type DclusterCommand = { kind: 'help'; text: string } | { kind: 'run'; options: DclusterOptions };

export const DCLUSTER_USAGE =
  'usage: dcluster HOST [HOST ...] [--nprocs N] [--nthreads T] [--memory-limit SIZE] [--ssh-port P] [--ssh-username U] ' +
  '[--ssh-private-key FILE] [--ssh-option NAME=VALUE] [--remote-node PATH] [--remote-dir DIR] [--scheduler-port PORT] ' +
  '[--dashboard-address ADDRESS] [--death-timeout DURATION] [--tls-ca-file FILE --tls-cert FILE [--tls-key FILE]]';

export const DCLUSTER_HELP = `${DCLUSTER_USAGE}

Start a cluster over SSH: dscheduler on the first HOST, dworker (with its nannies) on every HOST
(repeat a host to start more sessions there). Remote output is printed with the host in front;
"Scheduler at tcp://..." is printed once every worker has registered. Ctrl-C (SIGINT) or SIGTERM
stops every process started on every host.

Options:
  --nprocs N                 worker processes per host (default 1)
  --nthreads T               threads per worker process (default: the host's CPUs / nprocs)
  --memory-limit SIZE        per worker process, as dworker --memory-limit (auto, 0, 0.5, 4GB...)
  --death-timeout DURATION   workers give up when the scheduler is unreachable this long
  --ssh-port P               SSH port (default: ssh's own)
  --ssh-username U           remote user (default: ssh's own)
  --ssh-private-key FILE     private key (default: ssh's own keys and agent)
  --ssh-option NAME=VALUE    extra ssh -o option (repeatable), e.g. UserKnownHostsFile=/path
  --remote-node PATH         Node on the remote hosts (default: node on their PATH)
  --remote-dir DIR           this package's directory on the remote hosts (default: the local one)
  --scheduler-port PORT      scheduler port (default ${DEFAULT_SCHEDULER_PORT}; 0: any free port)
  --dashboard-address ADDR   serve the scheduler's dashboard at [HOST]:PORT, e.g. :8787
  --tls-ca-file FILE, --tls-cert FILE, --tls-key FILE
                             TLS files, at these paths on every host (passed to dscheduler and dworker)
  -h, --help                 show this help and exit
`;

const specs: FlagSpecs = {
  nprocs: { type: 'string' },
  nthreads: { type: 'string' },
  'memory-limit': { type: 'string' },
  'death-timeout': { type: 'string' },
  'ssh-port': { type: 'string' },
  'ssh-username': { type: 'string' },
  'ssh-private-key': { type: 'string' },
  'ssh-option': { type: 'string', multiple: true },
  'remote-node': { type: 'string' },
  'remote-dir': { type: 'string' },
  'scheduler-port': { type: 'string' },
  'dashboard-address': { type: 'string' },
  'tls-ca-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

function positiveInteger(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

export function parseDclusterArgs(argv: readonly string[]): DclusterCommand {
  const flags = parseFlags(argv, specs);
  if (booleanFlag(flags, 'help')) return { kind: 'help', text: DCLUSTER_HELP };
  const hosts = flags.positionals;
  if (hosts.length === 0) throw new UsageError('give at least one HOST (the first runs the scheduler)');
  for (const host of hosts) if (host.trim() === '' || /\s/.test(host)) throw new UsageError(`invalid host ${JSON.stringify(host)}`);

  const sshPort = stringFlag(flags, 'ssh-port');
  const username = stringFlag(flags, 'ssh-username');
  const privateKey = stringFlag(flags, 'ssh-private-key');
  const sshOptions: Record<string, string> = {};
  for (const option of listFlag(flags, 'ssh-option')) {
    const eq = option.indexOf('=');
    if (eq <= 0) throw new UsageError(`--ssh-option expects NAME=VALUE, got ${JSON.stringify(option)}`);
    sshOptions[option.slice(0, eq)] = option.slice(eq + 1);
  }
  const schedulerPort = stringFlag(flags, 'scheduler-port');
  const dashboardAddress = stringFlag(flags, 'dashboard-address');
  const nthreads = positiveInteger(stringFlag(flags, 'nthreads'), '--nthreads');
  const memoryLimit = stringFlag(flags, 'memory-limit');
  const deathTimeout = stringFlag(flags, 'death-timeout');
  const caFile = stringFlag(flags, 'tls-ca-file');
  const certFile = stringFlag(flags, 'tls-cert');
  const keyFile = stringFlag(flags, 'tls-key');
  if ((caFile === undefined) !== (certFile === undefined) || (keyFile !== undefined && caFile === undefined)) {
    throw new UsageError('TLS needs --tls-ca-file and --tls-cert together (and optionally --tls-key)');
  }
  const remotePackage = stringFlag(flags, 'remote-dir');
  return {
    kind: 'run',
    options: {
      hosts: [...hosts],
      connectOptions: {
        ...(sshPort === undefined ? {} : { port: parsePort(sshPort, '--ssh-port', false) }),
        ...(username === undefined ? {} : { username }),
        ...(privateKey === undefined ? {} : { privateKey }),
        ...(Object.keys(sshOptions).length === 0 ? {} : { options: sshOptions }),
      },
      schedulerOptions: {
        port: schedulerPort === undefined ? DEFAULT_SCHEDULER_PORT : parsePort(schedulerPort, '--scheduler-port'),
        ...(dashboardAddress === undefined ? {} : { dashboardAddress }),
      },
      workerOptions: {
        nprocs: positiveInteger(stringFlag(flags, 'nprocs'), '--nprocs') ?? 1,
        ...(nthreads === undefined ? {} : { nthreads }),
        ...(memoryLimit === undefined ? {} : { memoryLimit }),
        ...(deathTimeout === undefined ? {} : { deathTimeout }),
      },
      ...(caFile !== undefined && certFile !== undefined ? { security: { caFile, certFile, ...(keyFile === undefined ? {} : { keyFile }) } } : {}),
      remoteNode: stringFlag(flags, 'remote-node') ?? 'node',
      ...(remotePackage === undefined ? {} : { remotePackage }),
    },
  };
}
