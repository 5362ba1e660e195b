/**
 * One command on a remote host, run by the system `ssh` client. Its output is
 * read for the whole life of the process (a full pipe would block the remote
 * side) and handed on line by line with a label in front; its stdin stays
 * open, so closing it (or this program dying) ends the remote session, and
 * the remote launcher then stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sshArgs, type SshConnectOptions } from '../../lib/deploy/ssh-command.js';

/** Where remote output goes: one call per line, already labelled. */
export type OutputSink = (line: string, stream: 'stdout' | 'stderr') => void;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** ssh exits once the remote launcher has stopped its group (it waits up to 5 s); then we insist. */
const CLOSE_WAIT_MS = 8000;
const KILL_WAIT_MS = 2000;
const TAIL_LINES = 20;

export class RemoteProcess {
  readonly exited: Promise<Exit>;
  readonly #child: ChildProcess;
  readonly #tail: string[] = [];
  readonly #watchers = new Set<(line: string) => void>();
  #exit: Exit | undefined;

  constructor(
    readonly host: string,
    readonly label: string,
    remoteCommand: string,
    connect: SshConnectOptions,
    sink: OutputSink,
    keepStdinOpen = true,
  ) {
    this.#child = spawn(connect.sshPath ?? 'ssh', sshArgs(host, remoteCommand, connect), {
      stdio: [keepStdinOpen ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.#child.on('error', (error) => {
        this.#remember(`could not run ssh: ${error.message}`);
        this.#exit ??= { code: 255, signal: null };
        resolve(this.#exit);
      });
      this.#child.on('close', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
    this.#child.stdin?.on('error', () => undefined);
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = this.#child[stream];
      if (source === null) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on('line', (line) => {
        this.#remember(line);
        for (const watcher of this.#watchers) watcher(line);
        sink(`${label} | ${line}`, stream);
      });
    }
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines of output (for error messages). */
  get tail(): string {
    return this.#tail.join('\n');
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
  waitForLine(pattern: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const watcher = (line: string): void => {
        const match = line.match(pattern);
        if (match === null) return;
        this.#watchers.delete(watcher);
        resolve(match);
      };
      this.#watchers.add(watcher);
      void this.exited.then((exit) => {
        if (!this.#watchers.has(watcher)) return;
        this.#watchers.delete(watcher);
        reject(Object.assign(new Error(`exited (${exit.code ?? exit.signal}) before printing ${pattern}`), { exit }));
      });
    });
  }

  /** Every line from now on (until `off()`). */
  onLine(watcher: (line: string) => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** Ends the session (the remote launcher stops its processes), then makes sure ssh is gone. Idempotent. */
  async close(): Promise<Exit> {
    if (this.#exit !== undefined) return this.#exit;
    this.#child.stdin?.end();
    if (await settlesWithin(this.exited, CLOSE_WAIT_MS)) return this.exited;
    this.#child.kill('SIGTERM');
    if (await settlesWithin(this.exited, KILL_WAIT_MS)) return this.exited;
    this.#child.kill('SIGKILL');
    return this.exited;
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
