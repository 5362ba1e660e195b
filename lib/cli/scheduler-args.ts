/** `dscheduler` command line -> Scheduler.start options. */
import { DEFAULT_SCHEDULER_PORT, parseHost, parsePort } from './address.js';
import { parseFlags, stringFlag, booleanFlag, listFlag, type FlagSpecs } from './parse-flags.js';
import { TLS_FLAG_SPECS, TLS_HELP, TLS_USAGE, tlsSecurity } from './tls-flags.js';
import { UsageError } from './usage-error.js';
import { parseDuration } from '../units.js';
import type { Security } from '../comm/security.js';

export interface SchedulerCliOptions {
  host: string;
  port: number;
  /** Where the dashboard listens (default ':8787'); false with --no-dashboard. */
  dashboardAddress: string | false;
  /** The address is the default one: when its port is taken, a free port is used (with a warning). */
  dashboardFallback: boolean;
  /** --preload modules: each exports `plugin` (a SchedulerPlugin) or `setup(scheduler)`. */
  preload: string[];
  /** --allow-run-on-scheduler: clients over the network may use client.runOnScheduler. */
  allowRunOnScheduler?: boolean;
  /** Keep coordination primitives and datasets here (LMDB), restored on start. */
  stateDir?: string;
  /** --client-grace: at most this long (ms) a client whose connection dropped is waited for. */
  clientGrace?: number;
  /** From --tls-*: the scheduler then listens on tls://. */
  security?: Security;
}

export type SchedulerCommand = { kind: 'help'; text: string } | { kind: 'run'; options: SchedulerCliOptions };

export const DEFAULT_DASHBOARD_ADDRESS = ':8787';

export const SCHEDULER_USAGE = `usage: dscheduler [--host HOST] [--port PORT] [--dashboard-address ADDRESS | --no-dashboard] [--preload MODULE] [--allow-run-on-scheduler] [--state-dir DIR] [--client-grace DURATION] ${TLS_USAGE}`;

export const SCHEDULER_HELP = `${SCHEDULER_USAGE}

Start a distributed-ts scheduler and print "Start scheduler at tcp://HOST:PORT" (tls:// with --tls-*).

Options:
  --host HOST                  address to bind (default 127.0.0.1; 0.0.0.0 for every interface,
                               announcing this machine's first external address)
  --port PORT                  TCP port (default ${DEFAULT_SCHEDULER_PORT}; 0 picks a free port)
  --dashboard-address ADDRESS  serve the live dashboard (status, workers, graph pages, JSON, Prometheus
                               /metrics) over HTTP at [HOST]:PORT (default :8787 on the scheduler's
                               host; when 8787 is taken, a free port, with a warning; plain HTTP, read-only)
  --no-dashboard               serve no dashboard
  --preload MODULE             module (path or package) imported into the scheduler's process before it
                               serves; it exports \`plugin\` (a scheduler plugin, added) or
                               \`setup(scheduler)\` (awaited); may be given several times
  --allow-run-on-scheduler     let clients over the network run code in this process
                               (client.runOnScheduler); off by default
  --state-dir DIR              keep Lock/Semaphore leases, Queues, Variables, Events and published
                               datasets in DIR (an LMDB store) and restore them on start, so they
                               survive a restart (default: in memory only)
  --client-grace DURATION      keep the futures, leases and subscriptions of a client whose connection
                               dropped at most this long for it to reconnect (default: as long as the
                               client says it will try, its reconnectTimeout; 0: release at once)
${TLS_HELP}
  -h, --help                   show this help and exit
  -V, --version                print the version and exit

SIGINT or SIGTERM closes the scheduler cleanly.
`;

const specs: FlagSpecs = {
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'dashboard-address': { type: 'string' },
  'allow-run-on-scheduler': { type: 'boolean' },
  'state-dir': { type: 'string' },
  'client-grace': { type: 'string' },
  'no-dashboard': { type: 'boolean' },
  preload: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  ...TLS_FLAG_SPECS,
};

export function parseSchedulerArgs(argv: readonly string[]): SchedulerCommand {
  const flags = parseFlags(argv, specs);
  if (booleanFlag(flags, 'help')) return { kind: 'help', text: SCHEDULER_HELP };
  if (flags.positionals.length > 0) {
    throw new UsageError(`dscheduler takes no positional arguments (got ${flags.positionals.map((p) => JSON.stringify(p)).join(' ')})`);
  }
  const host = stringFlag(flags, 'host');
  const port = stringFlag(flags, 'port');
  const dashboardAddress = stringFlag(flags, 'dashboard-address');
  const stateDir = stringFlag(flags, 'state-dir');
  if (stateDir !== undefined && stateDir.trim() === '') throw new UsageError('--state-dir needs a directory');
  const noDashboard = booleanFlag(flags, 'no-dashboard');
  if (noDashboard && dashboardAddress !== undefined) throw new UsageError('give --dashboard-address or --no-dashboard, not both');
  if (dashboardAddress !== undefined && !/^[^\s]*:\d+$/.test(dashboardAddress)) {
    throw new UsageError(`invalid --dashboard-address ${JSON.stringify(dashboardAddress)}: expected [HOST]:PORT, e.g. :8787`);
  }
  const clientGraceText = stringFlag(flags, 'client-grace');
  let clientGrace: number | undefined;
  if (clientGraceText !== undefined) {
    try {
      clientGrace = parseDuration(clientGraceText);
    } catch {
      throw new UsageError(`invalid --client-grace ${JSON.stringify(clientGraceText)}: expected a duration like 30s or 500ms`);
    }
    if (!(clientGrace >= 0)) throw new UsageError(`invalid --client-grace ${JSON.stringify(clientGraceText)}: must not be negative`);
  }
  const security = tlsSecurity(flags);
  return {
    kind: 'run',
    options: {
      ...(security === undefined ? {} : { security }),
      host: host === undefined ? '127.0.0.1' : parseHost(host),
      port: port === undefined ? DEFAULT_SCHEDULER_PORT : parsePort(port, '--port'),
      dashboardAddress: noDashboard ? false : (dashboardAddress ?? DEFAULT_DASHBOARD_ADDRESS),
      dashboardFallback: !noDashboard && dashboardAddress === undefined,
      preload: listFlag(flags, 'preload'),
      ...(booleanFlag(flags, 'allow-run-on-scheduler') ? { allowRunOnScheduler: true } : {}),
      ...(stateDir === undefined ? {} : { stateDir }),
      ...(clientGrace === undefined ? {} : { clientGrace }),
    },
  };
}
