/**
 * The Nanny: a mailbox actor that supervises one worker process (dask's
 * `distributed.nanny.Nanny`). It forks actors/worker-child.js, which starts
 * a Worker that registers with the scheduler and reports its address back over
 * the IPC channel. The nanny
 * - restarts the worker when it dies unexpectedly (with a backoff),
 * - kills and restarts it on the `restart` RPC (resolving once the new worker
 *   has registered), and kills it on `kill`,
 * - watches its resident memory: pause at 80% of the limit, kill and restart at
 *   95%, logging it and telling the scheduler (`worker-restart-memory`),
 * - closes itself when the scheduler stays unreachable for `deathTimeout`.
 * Its lifecycle is machines/nanny-process.ts, one xstate actor per nanny.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Actor } from 'xstate';
import { adoptServerSecurity } from '../lib/comm/program-security.js';
import { addressScheme } from '../lib/comm/registry.js';
import type { Security } from '../lib/comm/security.js';
import { socketAddress } from '../lib/comm/socket-scheme.js';
import { DistributedError, TimeoutError, TlsHandshakeError } from '../lib/errors.js';
import { childLogger } from '../lib/logging.js';
import { deserializeError } from '../lib/protocol/errors.js';
import type { OpDict, WorkerRestartMemoryMsg } from '../lib/protocol/messages.js';
import { parseBytes, parseDuration } from '../lib/units.js';
import { isChildToNanny, type ChildToNanny, type NannyToChild, type WorkerChildConfig } from '../lib/nanny/child-messages.js';
import {
  DEFAULT_PAUSE_FRACTION,
  DEFAULT_TERMINATE_FRACTION,
  MemoryMonitor,
  procRss,
} from '../lib/nanny/memory-monitor.js';
import { countedMemory } from '../lib/worker/process-memory.js';
import { RestartBackoff } from '../lib/nanny/restart-backoff.js';
import { hasExited, stopChild } from '../lib/nanny/stop-child.js';
import { removeUploads } from '../lib/uploads.js';
import { lifecycleState, sendStrict, startLifecycle } from '../machines/lifecycle.js';
import { nannyProcessMachine, type NannyProcessState } from '../machines/nanny-process.js';
import { MailboxActor, type Handler, type Peer } from '../lib/comm/mailbox.js';
import type { BackoffPolicy } from '../lib/comm/reconnect-backoff.js';
import { ReconnectCancelled, reconnectWithin } from '../lib/comm/reconnect.js';

const WORKER_CHILD_ENTRY = fileURLToPath(new URL('./worker-child.js', import.meta.url));
const DEFAULT_DEATH_TIMEOUT = '60s';
/** Time a worker gets to close cleanly (unregister) before SIGTERM. */
const STOP_GRACE_MS = 3000;
const RESTART_GRACE_MS = 1000;
/**
 * Time a new worker process may take to boot (Node, modules, thread pool) on top of deathTimeout.
 * Generous: it only catches a stuck process (a crash is seen at once), and a loaded machine has
 * been seen to take over 6 s to boot one.
 */
export const WORKER_BOOT_ALLOWANCE_MS = 30_000;

export class NannyClosedError extends DistributedError {
  override name = 'NannyClosedError';
}

export interface WorkerStartEvent {
  /** The worker's own address (what the scheduler knows it by). */
  address: string;
  pid: number;
  /** Restarts before this start (0 for the first worker). */
  restarts: number;
}

/**
 * Options of `Nanny.start(schedulerAddress, ...)`: the worker process it supervises (threads, name, resources, memory limit...).
 */
export interface NannyOptions {
  nthreads?: number;
  name?: string;
  resources?: Record<string, number>;
  /** Per worker process: bytes or a size string; undefined/0 = no memory watchdog. */
  memoryLimit?: number | string;
  /** Modules imported in the worker process (setup(worker)/teardown(worker) hooks). */
  preload?: string | readonly string[];
  /** Interface for the nanny's and the worker's listeners (default 127.0.0.1). */
  host?: string;
  /** The worker's port (default 0: any free port). */
  workerPort?: number;
  /**
   * How long the scheduler may be unreachable (first connect, worker start,
   * later loss) before the nanny and its worker give up. Meanwhile both keep
   * running, and the worker keeps its data. Default 60 s.
   */
  deathTimeout?: number | string;
  /** The retry back-off toward the scheduler (tests shorten it). */
  reconnectBackoff?: Partial<BackoffPolicy>;
  /** Restart a worker that dies unexpectedly (default true). */
  autoRestart?: boolean;
  memoryPauseFraction?: number;
  memoryTerminateFraction?: number;
  /** Memory sampling period (default 150 ms). */
  memoryMonitorInterval?: number | string;
  /** Called each time a worker process has started and registered (also after restarts). */
  onWorkerStart?: (event: WorkerStartEvent) => void;
  /** Environment of the worker process (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** TLS credentials for a tls:// scheduler: the nanny's own connections, and handed to its worker processes. */
  security?: Security;
}

interface RunningChild {
  process: ChildProcess;
  startedAt: number;
  address: string | undefined;
  /** An exit we caused (stop, kill, restart): not a reason to restart. */
  expectedExit: boolean;
  lastReportedRss: number | undefined;
  /** The worker's resident bytes at start: its memory limit counts what it grows beyond (lib/worker/process-memory.ts). */
  baseline: number;
}

function reasonOf(msg: OpDict, fallback: string): string {
  return typeof msg.reason === 'string' ? msg.reason : fallback;
}

/**
 * The worker's environment: glibc's malloc keeps freed memory of large
 * allocations (a task's 10 MB result, once spilled) in its heap unless told to
 * give it back, so the worker's RSS would not fall after spilling. As dask's
 * nanny does, MALLOC_TRIM_THRESHOLD_ is set (unless the caller set it), which
 * also keeps large blocks in their own mappings, returned on free.
 */
export function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.MALLOC_TRIM_THRESHOLD_ === undefined ? { ...env, MALLOC_TRIM_THRESHOLD_: '65536' } : env;
}

/** Drop module loaders/preloads from our own flags (test runners, TS loaders); keep the rest (e.g. heap size). */
function childExecArgv(): string[] {
  const loaderFlags = /^--(import|loader|experimental-loader|require|experimental-specifier-resolution)\b/;
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (loaderFlags.test(flag) || flag === '-r') {
      if (!flag.includes('=')) i++;
      continue;
    }
    out.push(flag);
  }
  return out;
}

/**
 * Supervises one worker process: starts it, restarts it when it dies or
 * passes its memory limit, and stops it on close (what `dworker` runs per
 * process).
 *
 * @example
 * ```ts
 * const nanny = await Nanny.start('tcp://127.0.0.1:8786', { nthreads: 2, memoryLimit: '2GB' });
 * console.log(nanny.workerAddress);
 * await nanny.close();
 * ```
 */
export class Nanny extends MailboxActor {
  protected readonly handlers: Readonly<Record<string, Handler>> = {
    restart: (msg) => this.restart(reasonOf(msg, 'requested')).then((address) => ({ status: 'OK', address })),
    kill: (msg) => this.kill(reasonOf(msg, 'killed')).then(() => ({ status: 'OK' })),
    // Reply first, then close: the caller (the scheduler's terminate) should not see its call cut off.
    close: (msg) => {
      this.closedOnRequest = true;
      setImmediate(() => void this.close(reasonOf(msg, 'closed by request')));
      return { status: 'OK' };
    },
    identity: () => this.identity(),
  };

  /** The nanny's own address (RPCs restart, kill, identity). */
  address = '';
  /** True once someone (the scheduler shutting the cluster down) asked this nanny to close. */
  closedOnRequest = false;
  readonly schedulerAddress: string;
  readonly memoryLimit: number | undefined;
  /** Resolves with the reason once the nanny has closed (asked to, or by itself). */
  readonly finished: Promise<string>;

  private readonly options: NannyOptions;
  private readonly deathTimeout: number;
  private readonly lifecycle: Actor<typeof nannyProcessMachine>;
  private readonly backoff = new RestartBackoff();
  private readonly memoryMonitor: MemoryMonitor | undefined;
  private readonly reportMemoryMs: number;
  private scheduler: Peer | undefined;
  private child: RunningChild | undefined;
  private pendingRestart: Promise<string> | undefined;
  private closingPromise: Promise<void> | undefined;
  private closeReason = 'closed';
  private resolveFinished!: (reason: string) => void;
  private restartTimer: NodeJS.Timeout | undefined;
  private reconnecting = false;

  private constructor(schedulerAddress: string, options: NannyOptions) {
    super('nanny', {
      logger: childLogger('nanny', { scheduler: schedulerAddress, ...(options.name === undefined ? {} : { name: options.name }) }),
      security: options.security,
    });
    if (options.security !== undefined) adoptServerSecurity(options.security);
    this.schedulerAddress = schedulerAddress;
    this.options = options;
    this.deathTimeout = parseDuration(options.deathTimeout ?? DEFAULT_DEATH_TIMEOUT);
    const limit = options.memoryLimit === undefined ? 0 : parseBytes(options.memoryLimit);
    this.memoryLimit = limit > 0 ? limit : undefined;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.lifecycle = startLifecycle(nannyProcessMachine, {
      input: { autoRestart: options.autoRestart ?? true },
      onTransition: (snapshot, previous) => this.log.debug({ from: previous, to: snapshot.value }, 'nanny state'),
      onError: (error) => this.log.error({ err: error }, 'nanny lifecycle failed'),
    });
    if (this.memoryLimit !== undefined) {
      const limitBytes = this.memoryLimit;
      this.memoryMonitor = new MemoryMonitor({
        limit: limitBytes,
        sample: () => this.sampleWorkerMemory(),
        onPause: (rss) => this.tellChild({ type: 'pause', rss, limit: limitBytes }),
        onUnpause: () => this.tellChild({ type: 'unpause' }),
        onTerminate: (rss) => this.memoryExceeded(rss),
        pauseFraction: options.memoryPauseFraction ?? DEFAULT_PAUSE_FRACTION,
        terminateFraction: options.memoryTerminateFraction ?? DEFAULT_TERMINATE_FRACTION,
        intervalMs: parseDuration(options.memoryMonitorInterval ?? 150),
      });
    }
    // Where /proc is missing the child reports its own RSS.
    this.reportMemoryMs = this.memoryLimit !== undefined && procRss(process.pid) === undefined ? 200 : 0;
  }

  /**
   * Start a nanny and its worker; resolves once the worker has registered with
   * the scheduler. Rejects (and leaves nothing running) if the scheduler cannot
   * be reached or the worker does not start within `deathTimeout`.
   */
  static async start(schedulerAddress: string, options: NannyOptions = {}): Promise<Nanny> {
    const nanny = new Nanny(schedulerAddress, options);
    try {
      await nanny.begin();
    } catch (error) {
      if (lifecycleState(nanny.lifecycle) === 'starting') sendStrict(nanny.lifecycle, { type: 'start-failed', error });
      await nanny.close('start failed');
      throw error;
    }
    return nanny;
  }

  get status(): NannyProcessState {
    return lifecycleState(this.lifecycle) as NannyProcessState;
  }

  /** The current worker's address (undefined while it is (re)starting or killed). */
  get workerAddress(): string | undefined {
    return this.child?.address;
  }

  get workerPid(): number | undefined {
    return this.child?.process.pid;
  }

  /** Restarts begun since the nanny started (requested, memory, or unexpected exits). */
  get restarts(): number {
    return this.lifecycle.getSnapshot().context.restarts;
  }

  identity(): Record<string, unknown> {
    return {
      type: 'Nanny',
      address: this.address,
      scheduler: this.schedulerAddress,
      status: this.status,
      worker: this.workerAddress ?? null,
      pid: this.workerPid ?? null,
      restarts: this.restarts,
      memoryLimit: this.memoryLimit ?? null,
    };
  }

  private async begin(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    const listener = await this.listen(socketAddress(this.socketScheme(), host, 0));
    this.address = listener.address;
    this.scheduler = await this.connectScheduler();
    const address = await this.spawnWorker();
    sendStrict(this.lifecycle, { type: 'started' });
    this.memoryMonitor?.start();
    this.announce(address);
  }

  /** Dial the scheduler, retrying with a jittered back-off (it may be starting, or restarting) until `deathTimeout`. */
  private async connectScheduler(): Promise<Peer> {
    try {
      return await reconnectWithin((left) => this.connect(this.schedulerAddress, { timeout: Math.max(100, left) }), {
        timeoutMs: this.deathTimeout,
        ...(this.options.reconnectBackoff === undefined ? {} : { backoff: this.options.reconnectBackoff }),
        cancelled: () => this.closingPromise !== undefined,
        // A refused certificate is refused again: give up at once, saying why.
        retryable: (error) => !(error instanceof TlsHandshakeError),
        onRetry: (n, error, delayMs) =>
          this.log.warn({ attempt: n, delayMs, reason: (error as Error)?.message }, `scheduler connection lost, retrying (${n})`),
      });
    } catch (error) {
      if (error instanceof ReconnectCancelled || error instanceof TlsHandshakeError) throw error;
      throw new TimeoutError(
        `could not reach the scheduler at ${this.schedulerAddress} within ${this.deathTimeout} ms: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Kill the worker process and start a new one; resolves with the new
   * worker's address once it has registered. A restart already under way is
   * joined rather than repeated.
   */
  async restart(reason = 'requested'): Promise<string> {
    if (this.pendingRestart !== undefined) return this.pendingRestart;
    const state = this.status;
    if (state !== 'running') throw new NannyClosedError(`cannot restart: nanny is ${state}`);
    this.log.info({ reason, worker: this.workerAddress }, 'restarting worker');
    sendStrict(this.lifecycle, { type: 'restart', reason });
    return this.replaceWorker(reason, (child) => stopChild(child, { reason, graceMs: RESTART_GRACE_MS }), 0);
  }

  /** Stop the worker process without starting another (until `restart`). */
  async kill(reason = 'killed'): Promise<void> {
    if (this.pendingRestart !== undefined) await this.pendingRestart.catch(() => undefined);
    const child = this.child;
    if (child === undefined) return;
    child.expectedExit = true;
    this.log.info({ reason, worker: child.address }, 'killing worker');
    await stopChild(child.process, { reason, graceMs: RESTART_GRACE_MS });
  }

  /** Close the worker (it unregisters), then the nanny. */
  override close(reason = 'closed'): Promise<void> {
    this.closingPromise ??= this.shutdown(reason);
    return this.closingPromise;
  }

  private async shutdown(reason: string): Promise<void> {
    this.closeReason = reason;
    const state = this.status;
    if (state === 'starting' || state === 'running' || state === 'restarting') sendStrict(this.lifecycle, { type: 'close', reason });
    this.memoryMonitor?.stop();
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child !== undefined) {
      child.expectedExit = true;
      await stopChild(child.process, { reason, graceMs: STOP_GRACE_MS });
    }
    await super.close();
    if (this.status === 'closing') sendStrict(this.lifecycle, { type: 'closed' });
    this.lifecycle.stop();
    this.log.info({ reason }, 'nanny closed');
    this.resolveFinished(this.closeReason);
  }

  protected override onPeerClosed(peer: Peer): void {
    if (peer !== this.scheduler || this.closingPromise !== undefined) return;
    this.scheduler = undefined;
    this.log.warn({ deathTimeout: this.deathTimeout }, 'scheduler connection lost, retrying (0)');
    void this.reconnectScheduler();
  }

  private async reconnectScheduler(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      const peer = await this.connectScheduler();
      if (this.closingPromise !== undefined) return;
      this.scheduler = peer;
      this.log.info('reconnected to the scheduler');
    } catch {
      if (this.closingPromise !== undefined) return;
      this.log.error({ deathTimeout: this.deathTimeout }, 'scheduler unreachable for longer than the death timeout; closing');
      void this.close(`scheduler ${this.schedulerAddress} unreachable for ${this.deathTimeout} ms`);
    } finally {
      this.reconnecting = false;
    }
  }

  /** Called in state `restarting`: stop the current child (if any), wait, start a new one. */
  private replaceWorker(reason: string, stop: (child: ChildProcess) => Promise<void>, delayMs: number): Promise<string> {
    const run = async (): Promise<string> => {
      const old = this.child;
      if (old !== undefined) {
        old.expectedExit = true;
        await stop(old.process);
      }
      if (delayMs > 0) {
        this.log.info({ delayMs }, 'waiting before restarting the worker');
        await new Promise<void>((resolve) => (this.restartTimer = setTimeout(resolve, delayMs)));
      }
      if (this.status !== 'restarting') throw new NannyClosedError(`restart abandoned: nanny is ${this.status}`);
      let address: string;
      try {
        address = await this.spawnWorker();
      } catch (error) {
        if (this.status === 'restarting') {
          this.log.error({ err: error, reason }, 'worker failed to restart; closing the nanny');
          sendStrict(this.lifecycle, { type: 'start-failed', error });
          void this.close(`worker failed to restart: ${(error as Error).message}`);
        }
        throw error;
      }
      if (this.status !== 'restarting') throw new NannyClosedError(`restart abandoned: nanny is ${this.status}`);
      this.memoryMonitor?.reset();
      sendStrict(this.lifecycle, { type: 'started' });
      this.announce(address);
      return address;
    };
    const restart = run().finally(() => {
      if (this.pendingRestart === restart) this.pendingRestart = undefined;
    });
    this.pendingRestart = restart;
    return restart;
  }

  private announce(address: string): void {
    const pid = this.workerPid ?? -1;
    this.log.info({ worker: address, workerPid: pid }, 'worker started');
    try {
      this.options.onWorkerStart?.({ address, pid, restarts: this.restarts });
    } catch (error) {
      this.log.error({ err: error }, 'onWorkerStart threw');
    }
  }

  /** The nanny and its worker listen as the scheduler does: tls:// for a tls:// scheduler, else tcp://. */
  private socketScheme(): 'tcp' | 'tls' {
    return addressScheme(this.schedulerAddress) === 'tls' ? 'tls' : 'tcp';
  }

  /** Fork a worker process; resolves with its address once it has registered. */
  private spawnWorker(): Promise<string> {
    const preload = this.options.preload;
    const config: WorkerChildConfig = {
      schedulerAddress: this.schedulerAddress,
      nannyAddress: this.address,
      ...(this.options.nthreads === undefined ? {} : { nthreads: this.options.nthreads }),
      ...(this.options.name === undefined ? {} : { name: this.options.name }),
      ...(this.options.resources === undefined ? {} : { resources: this.options.resources }),
      ...(this.memoryLimit === undefined ? {} : { memoryLimit: this.memoryLimit }),
      host: this.options.host ?? '127.0.0.1',
      ...(this.options.workerPort ? { listenAddress: socketAddress(this.socketScheme(), this.options.host ?? '127.0.0.1', this.options.workerPort) } : {}),
      ...(this.options.security === undefined ? {} : { security: this.options.security.toPems() }),
      preload: preload === undefined ? [] : typeof preload === 'string' ? [preload] : [...preload],
      reportMemoryMs: this.reportMemoryMs,
      connectTimeout: Math.min(this.deathTimeout, 10_000),
      deathTimeout: this.deathTimeout,
      ...(this.options.reconnectBackoff === undefined ? {} : { reconnectBackoff: this.options.reconnectBackoff }),
    };
    const proc = fork(WORKER_CHILD_ENTRY, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: workerEnv(this.options.env ?? process.env),
      execArgv: childExecArgv(),
      serialization: 'json',
    });
    const child: RunningChild = { process: proc, startedAt: Date.now(), address: undefined, expectedExit: false, lastReportedRss: undefined, baseline: 0 };
    this.child = child;
    proc.on('exit', (code, signal) => this.childExited(child, code, signal));
    proc.on('error', (error) => this.log.error({ err: error, workerPid: proc.pid }, 'worker process error'));

    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined, address?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        proc.off('exit', onEarlyExit);
        if (error === undefined) {
          resolve(address!);
          return;
        }
        child.expectedExit = true;
        void stopChild(proc, { reason: 'start failed', graceMs: 0, termGraceMs: 500 });
        reject(error);
      };
      // The worker itself gives up on the scheduler after deathTimeout; this is the backstop for a stuck process.
      const startTimeout = this.deathTimeout + WORKER_BOOT_ALLOWANCE_MS;
      const timer = setTimeout(
        () => settle(new TimeoutError(`worker did not start within ${startTimeout} ms (is the scheduler at ${this.schedulerAddress} reachable?)`)),
        startTimeout,
      );
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void =>
        settle(new DistributedError(`worker process exited before it started (code ${String(code)}, signal ${String(signal)})`));
      proc.once('exit', onEarlyExit);
      proc.on('message', (message: unknown) => {
        if (!isChildToNanny(message)) return;
        this.childMessage(child, message, settle);
      });
      const start: NannyToChild = { type: 'start', config };
      proc.send(start);
    });
  }

  private childMessage(child: RunningChild, message: ChildToNanny, settleStart: (error: Error | undefined, address?: string) => void): void {
    switch (message.type) {
      case 'started':
        child.baseline = message.baseline ?? 0;
        child.address = message.address;
        settleStart(undefined, message.address);
        break;
      case 'start-failed':
        settleStart(deserializeError(message.error));
        break;
      case 'memory':
        child.lastReportedRss = message.rss;
        break;
      case 'memory-baseline':
        child.baseline = message.baseline;
        break;
      case 'worker-closed':
        this.log.info({ reason: message.reason, worker: child.address }, 'worker closed by itself');
        if (message.schedulerLost === true) {
          // The worker outlived the scheduler for the whole death timeout: a new one would not fare better.
          child.expectedExit = true;
          void this.close(message.reason);
        }
        break;
    }
  }

  private childExited(child: RunningChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    // A worker killed hard cannot clean up its uploaded files; its directory follows from its pid.
    if (child.process.pid !== undefined) removeUploads(child.process.pid);
    if (child.expectedExit || this.closingPromise !== undefined) return;
    if (this.status !== 'running' || child.address === undefined) return; // a failed start: its starter handles it
    const uptime = Date.now() - child.startedAt;
    this.log.warn({ worker: child.address, workerPid: child.process.pid, code, signal, uptimeMs: uptime }, 'worker process died unexpectedly');
    sendStrict(this.lifecycle, { type: 'worker-exited', code, signal });
    if (lifecycleState(this.lifecycle) !== 'restarting') {
      void this.close(`worker exited (code ${String(code)}, signal ${String(signal)})`);
      return;
    }
    this.replaceWorker('worker died', () => Promise.resolve(), this.backoff.nextDelay(uptime)).catch((error: unknown) => {
      if (this.closingPromise === undefined) this.log.error({ err: error }, 'automatic worker restart failed');
    });
  }

  /** The worker process's memory counted against the limit: its RSS beyond its baseline at start. */
  private sampleWorkerMemory(): number | undefined {
    const child = this.child;
    if (child === undefined || child.address === undefined || this.status !== 'running') return undefined;
    const pid = child.process.pid;
    const rss = (pid === undefined ? undefined : procRss(pid)) ?? child.lastReportedRss;
    return rss === undefined ? undefined : countedMemory(rss, child.baseline);
  }

  private tellChild(message: NannyToChild): void {
    const proc = this.child?.process;
    if (proc === undefined || !proc.connected || hasExited(proc)) return;
    try {
      proc.send(message);
    } catch (error) {
      this.log.debug({ err: error }, 'could not message the worker process');
    }
  }

  private memoryExceeded(rss: number): void {
    const child = this.child;
    const limit = this.memoryLimit!;
    if (child === undefined || this.status !== 'running') return;
    const worker = child.address ?? '(starting)';
    this.log.warn(
      { worker, workerPid: child.process.pid, rss, limit },
      `Worker ${worker} (pid ${String(child.process.pid)}) exceeded ${Math.round((this.options.memoryTerminateFraction ?? DEFAULT_TERMINATE_FRACTION) * 100)}% memory budget: ` +
        `${rss} of ${limit} bytes. Restarting`,
    );
    const notice: WorkerRestartMemoryMsg = {
      op: 'worker-restart-memory',
      worker,
      nanny: this.address,
      rss,
      limit,
      stimulusId: `worker-restart-memory-${Date.now()}`,
    };
    this.scheduler?.send(notice);
    sendStrict(this.lifecycle, { type: 'memory-exceeded', rss, limit });
    this.replaceWorker('memory limit', (proc) => stopChild(proc, { reason: 'memory limit', graceMs: 0, termGraceMs: 500 }), 0).catch(
      (error: unknown) => {
        if (this.closingPromise === undefined) this.log.error({ err: error }, 'restart after memory overrun failed');
      },
    );
  }
}
