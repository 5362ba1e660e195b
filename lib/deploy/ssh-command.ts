/**
 * The words SSHCluster hands to the system `ssh` client (pure: argv and
 * remote shell lines, and what a failed exit means). Remote commands run
 * through the remote login shell, so every word is single-quoted.
 */
import { DistributedError } from '../errors.js';

/**
 * How `SSHCluster` and `dcluster` reach hosts with the system `ssh` client (port, user, key, extra `-o` options).
 */
export interface SshConnectOptions {
  /** SSH port (default: ssh's own, 22 or ~/.ssh/config). */
  port?: number;
  /** Remote user (default: ssh's own choice). */
  username?: string;
  /** Private key file (default: ssh's own keys and agent). */
  privateKey?: string;
  /** Give up connecting after this long (default 10 s). */
  connectTimeout?: number;
  /** Extra `-o NAME=VALUE` options, e.g. `{ UserKnownHostsFile: '/tmp/known' }`. */
  options?: Record<string, string>;
  /** The ssh program (default `ssh` on the PATH). */
  sshPath?: string;
}

/**
 * A host could not be used: unreachable, key refused, no Node or no package there.
 *
 * @example
 * ```ts
 * await SSHCluster.start({ hosts: ['unreachable'] }).catch((e) => e instanceof RemoteHostError && e.host);
 * ```
 */
export class RemoteHostError extends DistributedError {
  override name = 'RemoteHostError';
  constructor(readonly host: string, message: string, options?: { cause?: unknown }) {
    super(`${host}: ${message}`, options);
  }
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

/**
 * `ssh` arguments for one remote command: never prompt (BatchMode), accept a
 * host key the first time only, and notice a dead connection within ~15 s.
 */
export function sshArgs(host: string, remoteCommand: string, connect: SshConnectOptions = {}): string[] {
  const options: Record<string, string> = {
    BatchMode: 'yes',
    StrictHostKeyChecking: 'accept-new',
    ConnectTimeout: String(Math.max(1, Math.ceil((connect.connectTimeout ?? 10_000) / 1000))),
    ServerAliveInterval: '5',
    ServerAliveCountMax: '3',
    ...connect.options,
  };
  const args = ['-T'];
  for (const [name, value] of Object.entries(options)) args.push('-o', `${name}=${value}`);
  if (connect.port !== undefined) args.push('-p', String(connect.port));
  if (connect.username !== undefined) args.push('-l', connect.username);
  if (connect.privateKey !== undefined) args.push('-i', connect.privateKey, '-o', 'IdentitiesOnly=yes');
  args.push('--', host, remoteCommand);
  return args;
}

/** Exit codes of the preflight check (ssh itself exits 255 when it cannot connect or log in). */
export const PREFLIGHT_NO_NODE = 96;
export const PREFLIGHT_NO_PACKAGE = 97;
const SSH_FAILED = 255;

export interface RemotePaths {
  /** The Node executable on the remote host. */
  node: string;
  /** The package's directory on the remote host (it holds dist/). */
  packageDir: string;
}

export function remoteScript(paths: RemotePaths, relative: string): string {
  return `${paths.packageDir.replace(/\/+$/, '')}/dist/${relative}`;
}

/** A shell line that fails with a distinct code when Node or the package is missing. */
export function preflightCommand(paths: RemotePaths): string {
  const node = shellQuote(paths.node);
  const marker = shellQuote(remoteScript(paths, 'bin/dworker.js'));
  return `command -v ${node} >/dev/null 2>&1 || exit ${PREFLIGHT_NO_NODE}; test -f ${marker} || exit ${PREFLIGHT_NO_PACKAGE}; exec ${node} --version`;
}

/**
 * The shell line that starts `script` (dist-relative) under the launcher,
 * which ends the whole process group when the SSH session closes. `tag`
 * goes into the environment of every process started (to find them).
 */
export function launchCommand(paths: RemotePaths, tag: string, script: string, args: readonly string[]): string {
  const words = [
    'exec',
    'env',
    `DISTRIBUTED_TS_SSH_TAG=${tag}`,
    paths.node,
    remoteScript(paths, 'actors/ssh/remote-launch.js'),
    `--tag=${tag}`,
    remoteScript(paths, script),
    ...args,
  ];
  return words.map(shellQuote).join(' ');
}

/** The error for a preflight (or launch) that exited with `code`, naming the host. */
export function describeFailure(host: string, code: number | null, stderr: string, paths: RemotePaths): RemoteHostError {
  const lastLine = stderr.trim().split('\n').filter((line) => line.trim() !== '').pop()?.trim() ?? '';
  switch (code) {
    case SSH_FAILED:
      if (/permission denied/i.test(stderr)) return new RemoteHostError(host, `ssh refused the login (key not accepted): ${lastLine}`);
      if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) {
        return new RemoteHostError(host, `ssh does not trust the host key: ${lastLine}`);
      }
      return new RemoteHostError(host, `cannot reach the host over ssh: ${lastLine || 'ssh exited with 255'}`);
    case PREFLIGHT_NO_NODE:
      return new RemoteHostError(host, `Node was not found at ${JSON.stringify(paths.node)} (set --remote-node / remoteNode)`);
    case PREFLIGHT_NO_PACKAGE:
      return new RemoteHostError(
        host,
        `distributed-ts is not at ${JSON.stringify(paths.packageDir)} (no ${remoteScript(paths, 'bin/dworker.js')}; set --remote-dir / remotePackage)`,
      );
    default:
      return new RemoteHostError(host, `the remote command exited with ${code === null ? 'a signal' : `code ${code}`}${lastLine ? `: ${lastLine}` : ''}`);
  }
}
