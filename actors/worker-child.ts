/**
 * Entry of a worker process forked by a Nanny (child_process.fork with an IPC
 * channel). It waits for `start` with its config, imports the --preload
 * modules, starts a Worker, runs their setup(worker) and reports its address.
 * `stop` (or SIGTERM) closes the worker (it unregisters), runs the teardowns
 * and exits. If the nanny goes away (IPC disconnect) the child exits too, so
 * no worker outlives its nanny.
 */
import { Worker } from './worker.js';
import { Security } from '../lib/comm/security.js';
import { childLogger } from '../lib/logging.js';
import { serializeError } from '../lib/protocol/errors.js';
import { isNannyToChild, type ChildToNanny, type WorkerChildConfig } from '../lib/nanny/child-messages.js';
import { importPreloads, runSetups, runTeardowns, type PreloadedModule } from '../lib/nanny/preload.js';
import { installClientPort } from '../lib/client/client-port.js';
import { installClientAdapter } from '../lib/coordination/client-adapter.js';
import { armTierUp } from '../lib/jit-tiering.js';

// As the package root does: code this worker runs gets its client (getClient()),
// actor handles become proxies, primitives find the client.
installClientPort();
installClientAdapter();
// A process of ours serving a cluster: hot paths optimized after hundreds of tasks, not thousands (lib/jit-tiering.ts).
armTierUp();

const log = childLogger('worker-process');
const CLOSE_TIMEOUT_MS = 5000;

type WorkerStartOptions = NonNullable<Parameters<typeof Worker.start>[1]>;

let worker: Worker | undefined;
let preloads: PreloadedModule[] = [];
let stopping: Promise<never> | undefined;
let memoryTimer: NodeJS.Timeout | undefined;

function tell(message: ChildToNanny): void {
  if (process.connected) process.send?.(message);
}

async function start(config: WorkerChildConfig): Promise<void> {
  try {
    preloads = await importPreloads(config.preload, process.cwd());
    const options: WorkerStartOptions = {
      ...(config.nthreads === undefined ? {} : { nthreads: config.nthreads }),
      threadPreload: preloads.map((module) => module.url),
      ...(config.name === undefined ? {} : { name: config.name }),
      ...(config.resources === undefined ? {} : { resources: config.resources }),
      ...(config.memoryLimit === undefined ? {} : { memoryLimit: config.memoryLimit }),
      ...(config.host === undefined ? {} : { host: config.host }),
      ...(config.listenAddress === undefined ? {} : { listenAddress: config.listenAddress }),
      ...(config.nannyAddress === undefined ? {} : { nanny: config.nannyAddress }),
      ...(config.connectTimeout === undefined ? {} : { connectTimeout: config.connectTimeout }),
      ...(config.deathTimeout === undefined ? {} : { deathTimeout: config.deathTimeout }),
      ...(config.reconnectBackoff === undefined ? {} : { reconnectBackoff: config.reconnectBackoff }),
      ...(config.security === undefined ? {} : { security: Security.fromPems(config.security) }),
    };
    worker = await Worker.start(config.schedulerAddress, options);
    await runSetups(preloads, worker);
  } catch (error) {
    log.error({ err: error }, 'worker failed to start');
    tell({ type: 'start-failed', error: serializeError(error) });
    await stop('start failed', 1);
    return;
  }
  if (config.reportMemoryMs > 0) {
    memoryTimer = setInterval(() => tell({ type: 'memory', rss: process.memoryUsage.rss() }), config.reportMemoryMs);
    memoryTimer.unref();
  }
  const baseline = worker.memoryBaseline;
  tell({ type: 'started', address: worker.address, pid: process.pid, ...(baseline === undefined ? {} : { baseline }) });
  void worker.memoryBaselineSettled.then((settled) => {
    if (settled !== undefined && settled !== baseline) tell({ type: 'memory-baseline', baseline: settled });
  });
  watchForSelfClose(worker);
}

/** A worker closes by itself when it loses the scheduler or is told to: then this process has nothing left to do. */
function watchForSelfClose(running: Worker): void {
  void running.finished.then(() => {
    if (stopping !== undefined) return;
    const lost = running.closedBecause;
    tell({ type: 'worker-closed', reason: lost ?? 'the scheduler told the worker to close', schedulerLost: lost !== undefined });
    void stop('worker closed itself', 0);
  });
}

/** Close the worker and teardowns (bounded), then exit. Idempotent. */
function stop(reason: string, code = 0): Promise<never> {
  stopping ??= (async () => {
    clearInterval(memoryTimer);
    const hardStop = setTimeout(() => process.exit(code === 0 ? 1 : code), CLOSE_TIMEOUT_MS);
    hardStop.unref();
    log.info({ reason }, 'worker process stopping');
    try {
      if (worker !== undefined) {
        const failures = await runTeardowns(preloads, worker);
        for (const failure of failures) log.error({ err: failure }, 'preload teardown failed');
        await worker.close();
      }
    } catch (error) {
      log.error({ err: error }, 'error while closing the worker');
    }
    process.exit(code);
  })();
  return stopping;
}

function pause(rss: number, limit: number): void {
  log.warn({ rss, limit }, 'memory above the pause threshold: pausing the worker');
  worker?.pause();
}

function unpause(): void {
  log.info('memory back below the pause threshold: resuming the worker');
  worker?.unpause();
}

process.on('message', (message: unknown) => {
  if (!isNannyToChild(message)) return;
  switch (message.type) {
    case 'start':
      void start(message.config);
      break;
    case 'stop':
      void stop(message.reason);
      break;
    case 'pause':
      pause(message.rss, message.limit);
      break;
    case 'unpause':
      unpause();
      break;
  }
});
// The nanny died or closed the channel: never outlive it.
process.on('disconnect', () => void stop('nanny went away'));
process.on('SIGTERM', () => void stop('SIGTERM'));
// Ctrl-C reaches the whole process group; the nanny decides when this process stops.
process.on('SIGINT', () => undefined);

if (!process.connected) {
  process.stderr.write('worker-child: must be started by a Nanny (child_process.fork with an IPC channel)\n');
  process.exit(2);
}
