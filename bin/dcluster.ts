#!/usr/bin/env node
/**
 * dcluster HOST…: a scheduler on the first host and workers on every host,
 * over SSH (see actors/ssh-cluster.ts); everything stops on SIGINT/SIGTERM.
 */
import { runCommand } from '../lib/cli/run-command.js';
import { closeOnSignals } from '../lib/cli/signals.js';
import { DCLUSTER_USAGE, parseDclusterArgs } from '../lib/cli/dcluster-args.js';

/** Remote sessions get a few seconds each to stop cleanly (see RemoteProcess.close). */
const SHUTDOWN_TIMEOUT_MS = 20_000;

await runCommand('dcluster', DCLUSTER_USAGE, async () => {
  const command = parseDclusterArgs(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(command.text);
    return;
  }
  const { SSHCluster } = await import('../actors/ssh-cluster.js');
  let cluster: Awaited<ReturnType<typeof SSHCluster.start>> | undefined;
  let stopping = false;
  closeOnSignals({
    program: 'dcluster',
    timeoutMs: SHUTDOWN_TIMEOUT_MS,
    // A signal while starting: SSHCluster.start stops what it started when it fails; we stop the rest.
    close: async () => {
      stopping = true;
      await cluster?.close();
    },
  });
  cluster = await SSHCluster.start({
    ...command.options,
    onOutput: (line, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`),
  });
  if (stopping) {
    await cluster.close();
    return;
  }
  process.stdout.write(`Scheduler at ${cluster.schedulerAddress} (${cluster.workers.length} workers registered)\n`);
  process.stdout.write(`Every process started carries DISTRIBUTED_TS_SSH_TAG=${cluster.tag} in its environment\n`);
  if (cluster.dashboardLink !== undefined) process.stdout.write(`Dashboard at ${cluster.dashboardLink}\n`);
});
