/**
 * Runs on the remote host, started over SSH by SSHCluster:
 *   node remote-launch.js --tag=ID SCRIPT [ARGS…]
 * It starts `node SCRIPT ARGS…` as the leader of a new process group (so
 * the nannies' worker processes belong to it too) with its output going
 * straight to the SSH channel, and ends the whole group when the SSH session
 * ends: its stdin closes (the channel or the connection went away, or the
 * local side closed it), or it gets SIGHUP/SIGTERM/SIGINT. The group gets
 * SIGTERM (a clean close: workers unregister), then SIGKILL after a grace
 * period. Without this, a remote process would outlive a dropped session.
 */
import { spawn } from 'node:child_process';

const GRACE_MS = 5000;

const [tagArg, script, ...args] = process.argv.slice(2);
if (tagArg === undefined || !tagArg.startsWith('--tag=') || script === undefined) {
  process.stderr.write('usage: remote-launch.js --tag=ID SCRIPT [ARGS...]\n');
  process.exit(2);
}

const child = spawn(process.execPath, [script, ...args], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
let ending = false;

function signalGroup(signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

function end(why: string): void {
  if (ending) return;
  ending = true;
  process.stderr.write(`remote-launch: ${why}; stopping ${script}\n`);
  signalGroup('SIGTERM');
  setTimeout(() => {
    signalGroup('SIGKILL');
    process.exit(1);
  }, GRACE_MS).unref();
}

child.on('error', (error) => {
  process.stderr.write(`remote-launch: could not start ${script}: ${error.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  // Whatever the script left in its group (a worker process whose nanny died) goes with it.
  signalGroup('SIGKILL');
  process.exit(code ?? (signal === null ? 1 : 128));
});

process.stdin.on('end', () => end('the SSH session closed'));
process.stdin.on('close', () => end('the SSH session closed'));
process.stdin.on('error', () => end('the SSH session failed'));
process.stdin.resume();
for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, () => end(`got ${signal}`));
