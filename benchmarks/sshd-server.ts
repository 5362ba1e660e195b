/**
 * A real OpenSSH server for the SSH tests and the deploy benchmark:
 * /usr/sbin/sshd on 127.0.0.1 at a free port, as the current user, with a
 * host key, an authorized key and its own sshd_config in a temporary
 * directory (nothing of the system's touched besides the privilege-separation
 * directory sshd insists on). `.ci/run` installs openssh-server when missing.
 * Not a benchmark itself (run.ts skips it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  dir: string;
  /** The authorized private key. */
  key: string;
  /** A key the server does not accept. */
  wrongKey: string;
  /** ssh -o options that keep the user's own known_hosts untouched. */
  sshOptions: Record<string, string>;
  stop(): Promise<void>;
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install -y openssh-server (.ci/run does this)`);
  const dir = mkdtempSync(join(tmpdir(), 'dts-sshd-'));
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'user_key'));
  keygen(join(dir, 'wrong_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true });
  const port = await unusedPort();
  const pidFile = join(dir, 'sshd.pid');
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${pidFile}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // -D: stay in the foreground as our child, so the test owns it.
  const server = spawn(SSHD, ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(pidFile) && server.exitCode === null) {
    if (Date.now() > deadline) throw new Error('sshd did not start within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (server.exitCode !== null) {
    const logText = existsSync(join(dir, 'sshd.log')) ? readFileSync(join(dir, 'sshd.log'), 'utf8') : '';
    throw new Error(`sshd did not start: ${logText}`);
  }
  return {
    port,
    dir,
    key: join(dir, 'user_key'),
    wrongKey: join(dir, 'wrong_key'),
    sshOptions: { UserKnownHostsFile: join(dir, 'known_hosts') },
    async stop() {
      server.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

