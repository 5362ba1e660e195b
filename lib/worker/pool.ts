/**
 * The worker's threads: a piscina pool of exactly `nthreads` threads that
 * live as long as the worker. Piscina does not decide how many tasks run —
 * WorkerState does — so each thread accepts many concurrent calls (a task
 * awaiting I/O must not hold a thread slot), and idle threads keep their event
 * loops running (`atomics: 'disabled'`) so MessagePorts held in a thread
 * are answered between tasks.
 *
 * Batches go to the threads over one batch port per thread
 * (lib/worker/batch-port.ts), to the thread with the fewest batches out;
 * only those sent before any thread has opened its port go through `piscina.run`.
 */
import { Piscina } from 'piscina';
import type { MessagePort } from 'node:worker_threads';
import { ThreadExitedError } from '../errors.js';
import { childLogger } from '../logging.js';
import { BATCH_PORT, BatchPort, isBatchPortMessage, type BatchPortMessage } from './batch-port.js';
import type { TaskOutcome, TaskToRun } from './execute.js';
import type { WorkerInfo } from '../task-context.js';
import { isThreadLinkMessage, THREAD_LINK } from './thread-link.js';
import { threadFlags } from './thread-flags.js';
import { THREAD_SECURITY, type SecurityPems } from '../comm/thread-security.js';
import { THREAD_PRELOAD } from './thread-preload.js';

const log = childLogger('thread-pool');

export interface ThreadPoolOptions {
  /** The module each thread loads (actors/worker-thread.js: the entry stands with the actors). */
  entry: string;
  worker?: WorkerInfo;
  onThreadLink?: (port: MessagePort) => void;
  /** TLS credentials the threads dial tls:// with (getClient(), actor calls in tasks). */
  security?: SecurityPems;
  /** Module URLs every thread imports before taking work (--preload; thread-preload.ts). */
  preload?: readonly string[];
}

/**
 * Threads inherit the process's Node flags and NODE_OPTIONS (so a loader such
 * as tsx still serves `remote()` modules written in TypeScript), except flags
 * threads refuse (`--expose-gc`, `--max-old-space-size`...: thread-flags.ts) and the
 * test runner's own instrumentation: tap's loaders cost about a second per
 * thread and measure nothing there (tap does not count coverage in threads).
 */
export function threadExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  return threadFlags(withoutTapLoaders(execArgv)).execArgv;
}

function withoutTapLoaders(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const takesValue = arg === '--import' || arg === '--loader' || arg === '--experimental-loader' || arg === '--require' || arg === '-r';
    const value = takesValue ? (execArgv[i + 1] ?? '') : arg;
    if (value.includes('@tapjs/')) {
      if (takesValue) i++;
      continue;
    }
    kept.push(arg);
  }
  return kept;
}

/** process.env, or a copy whose NODE_OPTIONS lost tap's loaders. */
export function threadEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const options = env.NODE_OPTIONS;
  if (options === undefined || !options.includes('@tapjs/') || /["']/.test(options)) return env;
  return { ...env, NODE_OPTIONS: withoutTapLoaders(options.split(/\s+/).filter((a) => a !== '')).join(' ') };
}

function threadExited(thread: string, code: number): ThreadExitedError {
  return new ThreadExitedError(
    `${thread} exited with code: ${code} while running tasks (process.exit() in a task ends its thread; a new thread replaces it)`,
  );
}

export class ThreadPool {
  private readonly piscina: Piscina<TaskToRun[], TaskOutcome[]>;
  private ports: BatchPort[] = [];
  /** Resolves once every thread has come up (its batch port arrived): the worker's resting memory includes them. */
  readonly online: Promise<void>;
  private markOnline!: () => void;

  /**
   * `entry`: the thread entry module's URL; `worker` (optional): told to every thread (getWorker() inside tasks);
   * `onThreadLink` receives the port a thread opens to reach the worker
   * (lib/worker/thread-link.ts).
   */
  constructor(readonly nthreads: number, options: ThreadPoolOptions) {
    if (!Number.isInteger(nthreads) || nthreads < 1) throw new RangeError(`nthreads must be a positive integer, got ${nthreads}`);
    this.online = new Promise((resolve) => (this.markOnline = resolve));
    const flags = threadFlags(withoutTapLoaders(process.execArgv));
    if (flags.dropped.length > 0) log.debug({ dropped: flags.dropped }, 'Node flags that worker threads refuse are left out for task threads');
    this.piscina = new Piscina({
      workerData: {
        [BATCH_PORT]: true,
        ...(options.worker !== undefined ? { [THREAD_LINK]: options.worker } : {}),
        ...(options.security !== undefined ? { [THREAD_SECURITY]: options.security } : {}),
        ...(options.preload !== undefined && options.preload.length > 0 ? { [THREAD_PRELOAD]: [...options.preload] } : {}),
      },
      filename: options.entry,
      minThreads: nthreads,
      maxThreads: nthreads,
      idleTimeout: Infinity,
      atomics: 'disabled',
      concurrentTasksPerWorker: 256,
      recordTiming: false,
      execArgv: threadExecArgv(),
      env: threadEnv(),
      // A heap limit the process was given (--max-old-space-size) holds for its task threads too.
      ...(flags.maxOldGenerationSizeMb !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: flags.maxOldGenerationSizeMb } } : {}),
    });
    const onThreadLink = options.onThreadLink;
    this.piscina.on('message', (message: unknown) => {
      if (isBatchPortMessage(message)) this.adopt(message);
      else if (onThreadLink !== undefined && isThreadLinkMessage(message)) onThreadLink(message[THREAD_LINK]);
    });
    // A thread failing while piscina has no task of its own on it (ours travel on batch ports).
    this.piscina.on('error', (error: unknown) => log.error({ err: error }, 'a pool thread failed'));
  }

  private adopt(message: BatchPortMessage): void {
    const port = new BatchPort(message[BATCH_PORT], message.threadId);
    const thread = this.piscina.threads.find((candidate) => candidate.threadId === message.threadId);
    if (thread === undefined) {
      port.close();
      return;
    }
    const drop = (error: Error): void => {
      port.fail(error);
      this.ports = this.ports.filter((p) => p !== port);
    };
    thread.once('error', (error: Error) => drop(error));
    thread.once('exit', (code: number) => drop(threadExited(`pool thread ${message.threadId}`, code)));
    this.ports.push(port);
    if (this.ports.length >= this.nthreads) this.markOnline();
  }

  /** Threads whose batch port the pool holds (the rest get batches through piscina). */
  get batchPorts(): number {
    return this.ports.length;
  }

  /** Threads currently alive. */
  get threadCount(): number {
    return this.piscina.threads.length;
  }

  /** Runs one batch in one thread call. Rejects only if the thread dies or the pool is destroyed. */
  run(batch: TaskToRun[]): Promise<TaskOutcome[]> {
    let chosen: BatchPort | undefined;
    for (const port of this.ports) {
      if (port.usable && (chosen === undefined || port.inFlight < chosen.inFlight)) chosen = port;
    }
    if (chosen !== undefined) return chosen.run(batch);
    return this.piscina.run(batch).catch((error: unknown) => {
      // Piscina's own words for the same event as a batch port's 'exit'.
      const exit = error instanceof Error ? /^worker exited with code: (-?\d+)$/.exec(error.message) : null;
      throw exit === null ? error : threadExited('a pool thread', Number(exit[1]));
    });
  }

  /** Stops every thread; calls still running reject. */
  destroy(): Promise<void> {
    return this.piscina.destroy();
  }
}
