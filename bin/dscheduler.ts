#!/usr/bin/env node
/** dscheduler: start a scheduler on TCP (TLS with --tls-*) and keep it until SIGINT/SIGTERM. */
import { tcpAddress } from '../lib/cli/address.js';
import { runCommand } from '../lib/cli/run-command.js';
import { parseSchedulerArgs, SCHEDULER_USAGE } from '../lib/cli/scheduler-args.js';
import { closeOnSignals } from '../lib/cli/signals.js';
import { armTierUp } from '../lib/jit-tiering.js';

// A process of ours serving a cluster: hot paths optimized after hundreds of tasks, not thousands (lib/jit-tiering.ts).
armTierUp();

await runCommand('dscheduler', SCHEDULER_USAGE, async () => {
  const command = parseSchedulerArgs(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(command.text);
    return;
  }
  // Loaded after parsing, so --help and bad flags answer at once.
  const { Scheduler } = await import('../actors/scheduler.js');
  const { preloadIntoScheduler } = await import('../lib/cli/scheduler-preload.js');
  const { host, port, dashboardAddress, dashboardFallback, preload, allowRunOnScheduler, stateDir, clientGrace, security } = command.options;
  const scheduler = await Scheduler.start({
    address: tcpAddress(host, port, security === undefined ? 'tcp' : 'tls'),
    dashboardAddress,
    dashboardFallback,
    ...(allowRunOnScheduler === true ? { allowRunOnScheduler } : {}),
    ...(stateDir === undefined ? {} : { stateDir }),
    ...(clientGrace === undefined ? {} : { clientGrace }),
    ...(security === undefined ? {} : { security }),
  });
  closeOnSignals({ program: 'dscheduler', close: () => scheduler.close() });
  try {
    await preloadIntoScheduler(preload, scheduler, process.cwd());
  } catch (error) {
    await scheduler.close();
    throw error;
  }
  process.stdout.write(`Start scheduler at ${scheduler.address}\n`);
  if (scheduler.dashboardAddress !== undefined) process.stdout.write(`Dashboard at ${scheduler.dashboardAddress}/status\n`);
});
