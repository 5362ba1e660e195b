#!/usr/bin/env node
/**
 * dworker: start N nanny-supervised worker processes (or, with --no-nanny, one
 * worker in this process) for a scheduler, and keep them until SIGINT/SIGTERM.
 */
import { withTimeout } from '../lib/deadline.js';
import { tcpAddress } from '../lib/cli/address.js';
import { runCommand } from '../lib/cli/run-command.js';
import { closeOnSignals } from '../lib/cli/signals.js';
import { parseWorkerArgs, WORKER_USAGE, workerNames, type WorkerCliOptions } from '../lib/cli/worker-args.js';
import { armTierUp } from '../lib/jit-tiering.js';

// A process of ours serving a cluster: hot paths optimized after hundreds of tasks, not thousands (lib/jit-tiering.ts).
armTierUp();

function printStarted(workerAddress: string, schedulerAddress: string): void {
  process.stdout.write(`Start worker at ${workerAddress}\nRegistered with scheduler at ${schedulerAddress}\n`);
}

/** Slack on top of --death-timeout (and, with nannies, their worker processes' boot) before we give up ourselves. */
const START_SLACK_MS = 5000;

async function runWithNannies(options: WorkerCliOptions): Promise<void> {
  const { Nanny, WORKER_BOOT_ALLOWANCE_MS } = await import('../actors/nanny.js');
  type NannyInstance = Awaited<ReturnType<typeof Nanny.start>>;
  const nannies: NannyInstance[] = [];
  let shuttingDown = false;
  closeOnSignals({
    program: 'dworker',
    close: async () => {
      shuttingDown = true;
      await Promise.all(nannies.map((nanny) => nanny.close('dworker shutting down')));
    },
    force: () => {
      for (const nanny of nannies) if (nanny.workerPid !== undefined) process.kill(nanny.workerPid, 'SIGKILL');
    },
  });

  const starts = workerNames(options.name, options.nprocs).map((name, index) =>
    Nanny.start(options.schedulerAddress, {
      nthreads: options.nthreads,
      ...(name === undefined ? {} : { name }),
      resources: options.resources,
      ...(options.memoryLimit === undefined ? {} : { memoryLimit: options.memoryLimit }),
      preload: options.preload,
      host: options.host,
      workerPort: options.ports[index] ?? 0,
      deathTimeout: options.deathTimeout,
      ...(options.security === undefined ? {} : { security: options.security }),
      onWorkerStart: ({ address }) => printStarted(address, options.schedulerAddress),
    }).then((nanny) => {
      if (shuttingDown) void nanny.close('dworker shutting down');
      else nannies.push(nanny);
      return nanny;
    }),
  );
  const results = await withTimeout(
    Promise.allSettled(starts),
    // Each nanny gives up by itself (scheduler unreachable, worker stuck booting): this is only a backstop behind it.
    options.deathTimeout + WORKER_BOOT_ALLOWANCE_MS + START_SLACK_MS,
    () => `starting workers for the scheduler at ${options.schedulerAddress}`,
  );
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(nannies.map((nanny) => nanny.close('another worker failed to start')));
    throw failure.reason;
  }
  // Every nanny closing by itself ends the command: normally when the scheduler shut the cluster
  // down (client.shutdown()), with a failure when the scheduler is gone for good.
  void Promise.all(nannies.map((nanny) => nanny.finished)).then((reasons) => {
    if (shuttingDown) return;
    const why = [...new Set(reasons)].join('; ');
    if (nannies.every((nanny) => nanny.closedOnRequest)) {
      process.stdout.write(`dworker: the scheduler closed every worker (${why})\n`);
      process.exit(0);
    }
    process.stderr.write(`dworker: all workers closed (${why})\n`);
    process.exit(1);
  });
}

async function runInProcess(options: WorkerCliOptions): Promise<void> {
  // The package root installs the client side (getClient() in tasks, actor proxies) as in any program.
  const { Worker } = await import('../lib/index.js');
  const { importPreloads, runSetups, runTeardowns } = await import('../lib/nanny/preload.js');
  const preloads = await importPreloads(options.preload, process.cwd());
  const name = workerNames(options.name, 1)[0];
  const worker = await withTimeout(
    Worker.start(options.schedulerAddress, {
      nthreads: options.nthreads,
      threadPreload: preloads.map((module) => module.url),
      ...(name === undefined ? {} : { name }),
      resources: options.resources,
      ...(options.memoryLimit === undefined ? {} : { memoryLimit: options.memoryLimit }),
      host: options.host,
      deathTimeout: options.deathTimeout,
      ...(options.ports[0] === 0 ? {} : { listenAddress: tcpAddress(options.host, options.ports[0]!, options.schedulerAddress.startsWith('tls://') ? 'tls' : 'tcp') }),
      ...(options.security === undefined ? {} : { security: options.security }),
    }),
    options.deathTimeout + START_SLACK_MS,
    () => `reaching the scheduler at ${options.schedulerAddress}`,
    undefined,
    (late) => void late.close(),
  );
  closeOnSignals({
    program: 'dworker',
    close: async () => {
      await runTeardowns(preloads, worker);
      await worker.close();
    },
  });
  await runSetups(preloads, worker);
  printStarted(worker.address, options.schedulerAddress);
  // The worker outlives a scheduler restart; it closes by itself only when told to or past --death-timeout.
  void worker.finished.then(async () => {
    if (worker.closedBecause === undefined) return;
    process.stderr.write(`dworker: ${worker.closedBecause}\n`);
    await runTeardowns(preloads, worker).catch(() => undefined);
    process.exit(1);
  });
}

await runCommand('dworker', WORKER_USAGE, async () => {
  const command = parseWorkerArgs(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(command.text);
    return;
  }
  if (command.options.nanny) await runWithNannies(command.options);
  else await runInProcess(command.options);
});
