/** What `Scheduler.start` takes (dscheduler's flags map onto these). */
import type { Security } from '../../lib/comm/security.js';
import type { SchedulerPlugin } from '../../lib/scheduler/plugins.js';

export interface SchedulerOptions {
  /** Full listen address, e.g. 'inproc://' (in-process clusters) or 'tcp://0.0.0.0:8786'. Overrides host/port. */
  address?: string;
  /** Interface for TCP (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 8786; 0 picks a free one). */
  port?: number;
  /**
   * Serve the dashboard (status page, JSON, Prometheus metrics) over HTTP at
   * `[HOST]:PORT`, e.g. ':8787' (an empty host: the scheduler's own, or
   * 127.0.0.1 for in-process schedulers; port 0: any free port).
   */
  dashboardAddress?: string | false;
  /** When the dashboard's port is taken, serve it on a free port instead (with a warning) rather than fail. */
  dashboardFallback?: boolean;
  /**
   * Also accept connections from this thread over in-process comms (an
   * `inproc://` address, `inprocAddress`): a Client in the scheduler's own
   * program then skips TCP, while workers in other processes use `address`.
   */
  inproc?: boolean;
  /** Unexpected worker deaths a task survives before it errs with KilledWorker (default 3). */
  allowedFailures?: number;
  /** How often to look for work to steal while some worker is idle (default 100 ms; 0 disables stealing). */
  stealingInterval?: number | string;
  /** Check every state invariant after each event (slow; for tests). */
  validate?: boolean;
  /** How often workers send heartbeat_worker (default 500 ms). */
  heartbeatInterval?: number | string;
  /** A worker silent this long is removed (restarted through its nanny, if it has one). Default max(5 s, 10 heartbeats); 0 disables. */
  workerTtl?: number | string;
  /** How long client.restart() waits for the workers to come back (default 30 s). */
  restartTimeout?: number | string;
  /**
   * Let clients over the network run code here (`client.runOnScheduler`);
   * default false: only clients in this process may (`--allow-run-on-scheduler`).
   */
  allowRunOnScheduler?: boolean;
  /**
   * Values workers bring back after this scheduler (re)started that no client
   * has claimed are kept this long for their clients to reconnect (default 60 s).
   */
  heldOverTtl?: number | string;
  /**
   * Keep Lock/Semaphore leases, Queue items, Variables, Events and published
   * datasets in an LMDB store in this directory, and restore them on start.
   * Without it they live in memory only and a restart loses them.
   */
  stateDir?: string;
  /**
   * How long, at most, the futures, leases and topic subscriptions of a client
   * whose connection dropped (without close-client) are kept for it to
   * reconnect (actors/scheduler/client-grace.ts). Default: as long as the
   * client says it will try (its reconnectTimeout, 60 s unless set; 0 for
   * clients that do not reconnect); 0 releases at once.
   */
  clientGrace?: number | string;
  /** TLS credentials: the scheduler then listens on tls:// (mutual TLS) instead of tcp://. */
  security?: Security;
  /** Scheduler plugins, started (their `start` awaited) before `Scheduler.start` resolves. */
  plugins?: SchedulerPlugin[];
}
