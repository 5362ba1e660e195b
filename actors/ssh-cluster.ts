/**
 * A cluster over SSH (dask's SSHCluster and the old dask-ssh, here also the
 * `dcluster` command): `dscheduler` on the first host, `dworker` (with its
 * nannies) on every host, each run by the system `ssh` client under a small
 * remote launcher that stops the whole remote process group when the SSH
 * session ends — so `close()`, Ctrl-C, or this program dying leaves nothing
 * running on any host.
 *
 * Why the system `ssh` and not an SSH library: it uses the user's own SSH
 * setup as is (~/.ssh/config, agent, known_hosts, ProxyJump), needs no
 * dependency with native parts, and its exit status and messages say clearly
 * what failed.
 *
 * Before anything starts, every host is checked (reachable, key accepted,
 * Node and the package present); a failure names the host and nothing is
 * left running. Unlike dask's SSHCluster (workers on hosts[1:]), workers run
 * on every host listed, as in dask-ssh; repeat a host for more sessions there.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Security } from '../lib/comm/security.js';
import { DistributedError, TimeoutError } from '../lib/errors.js';
import { childLogger } from '../lib/logging.js';
import {
  describeFailure,
  launchCommand,
  preflightCommand,
  RemoteHostError,
  type RemotePaths,
  type SshConnectOptions,
} from '../lib/deploy/ssh-command.js';
import { parseDuration } from '../lib/units.js';
import { WorkerScaling, type Cluster, type WorkerLauncher } from './cluster.js';
import type { Adaptive, AdaptOptions, AdaptiveStep } from './adaptive.js';
import { RemoteProcess, type OutputSink } from './ssh/remote-process.js';

/**
 * The scheduler's options in `SSHCluster.start({ schedulerOptions })`.
 */
export interface SSHSchedulerOptions {
  /** Scheduler port (default 8786; 0: any free port). */
  port?: number;
  /** Interface the scheduler binds on the first host (default: the first host's name as given). */
  host?: string;
  /** Serve the dashboard at [HOST]:PORT, e.g. ':8787'. */
  dashboardAddress?: string;
}

/**
 * The workers' options in `SSHCluster.start({ workerOptions })`.
 */
export interface SSHWorkerOptions {
  /** Worker processes (nannies) per host (default 1). */
  nprocs?: number;
  /** Threads per worker process (default: the remote CPUs / nprocs). */
  nthreads?: number;
  /** Per worker process: bytes or '4GB', 'auto', a fraction... (as dworker --memory-limit). */
  memoryLimit?: number | string;
  /** Worker processes give up when the scheduler is unreachable this long (dworker --death-timeout). */
  deathTimeout?: number | string;
}

/**
 * TLS files, present at these paths on every host; passed as dscheduler/dworker --tls-* flags.
 * The cluster's own connections (scale, adapt) load the same paths on this
 * machine, unless `local` gives this program's credentials.
 */
export interface SSHSecurityOptions {
  caFile: string;
  certFile: string;
  keyFile?: string;
  /** This program's credentials, when the files are not at those paths on this machine. */
  local?: Security;
}

/**
 * Options of `SSHCluster.start(...)`: the hosts, how to reach them, and the scheduler's and workers' options.
 */
export interface SSHClusterOptions {
  /** The scheduler runs on hosts[0]; a dworker on every host. */
  hosts: readonly string[];
  /** One for all hosts, or one per host. */
  connectOptions?: SshConnectOptions | readonly SshConnectOptions[];
  schedulerOptions?: SSHSchedulerOptions;
  workerOptions?: SSHWorkerOptions;
  /**
   * TLS: file paths present on every host, or a `Security` (its PEMs are
   * written to a private temporary directory on this machine, mode 0600, and
   * those paths passed on, so only hosts that share this machine's files,
   * such as localhost, can use them; for other hosts give file paths).
   */
  security?: SSHSecurityOptions | Security;
  /** The Node executable on the remote hosts (default `node` on their PATH). */
  remoteNode?: string;
  /** This package's directory on the remote hosts (default: this package's own directory). */
  remotePackage?: string;
  /** Every line of remote output, labelled with the host (default: the logger, at debug). */
  onOutput?: OutputSink;
  /** How long the scheduler and workers may take to come up (default 60 s). */
  timeout?: number | string;
}

const log = childLogger('ssh-cluster');
const THIS_PACKAGE = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_PORT = 8786;

/** One dworker session: the worker names it runs and the ssh process. */
interface WorkerSession {
  host: string;
  remote: RemoteProcess;
  names: string[];
}

/** One worker process of the cluster, known to the scheduler by its name. */
export interface SSHWorker {
  name: string;
  host: string;
  session: WorkerSession;
}

/**
 * A cluster over SSH: the scheduler on the first host and workers on every
 * host, started with the system `ssh` client and stopped on close.
 *
 * @example
 * ```ts
 * await using cluster = await SSHCluster.start({ hosts: ['host1', 'host2'] });
 * await using client = await Client.connect(cluster);
 * ```
 */
export class SSHCluster implements Cluster {
  readonly workers: SSHWorker[] = [];
  /** A tag in the environment of every process this cluster started, on every host. */
  readonly tag: string;
  #schedulerAddress = '';
  #dashboardLink: string | undefined;
  #scheduler: RemoteProcess | undefined;
  readonly #sessions = new Set<WorkerSession>();
  readonly #scaling: WorkerScaling<SSHWorker>;
  readonly #paths: RemotePaths;
  readonly #sink: OutputSink;
  readonly #startTimeout: number;
  #nextHost = 0;
  #closing: Promise<void> | undefined;
  /** The --tls-* flags for dscheduler and dworker (empty without TLS). */
  readonly #tlsFlags: string[] = [];
  /** A private directory holding a Security's PEMs for those flags; removed on close. */
  #tlsDir: string | undefined;
  /** The credentials of this program's own connections to the scheduler (undefined without TLS). */
  readonly security: Security | undefined;

  private constructor(private readonly options: SSHClusterOptions) {
    this.tag = `dts-${randomUUID().slice(0, 8)}`;
    const security = options.security;
    if (security instanceof Security) {
      if (!security.hasCredentials) throw new TypeError('SSHCluster: security has no CA, certificate and key');
      this.security = security;
      const dir = mkdtempSync(join(tmpdir(), 'dts-ssh-tls-'));
      this.#tlsDir = dir;
      const write = (name: string, text: string): string => {
        const file = join(dir, name);
        writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
        return file;
      };
      this.#tlsFlags.push('--tls-ca-file', write('ca.pem', security.ca!), '--tls-cert', write('cert.pem', security.cert!), '--tls-key', write('key.pem', security.key!));
    } else if (security !== undefined) {
      this.#tlsFlags.push('--tls-ca-file', security.caFile, '--tls-cert', security.certFile);
      if (security.keyFile !== undefined) this.#tlsFlags.push('--tls-key', security.keyFile);
      this.security =
        security.local ??
        new Security({ caFile: security.caFile, certFile: security.certFile, ...(security.keyFile === undefined ? {} : { keyFile: security.keyFile }) });
    }
    this.#paths = { node: options.remoteNode ?? 'node', packageDir: options.remotePackage ?? THIS_PACKAGE };
    this.#sink = options.onOutput ?? ((line, stream) => log.debug({ stream }, line));
    this.#startTimeout = parseDuration(options.timeout ?? '60s');
    const launcher: WorkerLauncher<SSHWorker> = {
      threadsPerWorker: options.workerOptions?.nthreads ?? 1,
      start: async (name) => {
        const hostIndex = this.#nextHost++ % options.hosts.length;
        const [worker] = await this.#startSession(hostIndex, [name], 1);
        return worker!;
      },
      idOf: (worker) => worker.name,
      alive: (worker) => worker.session.remote.running,
      stop: async (worker) => {
        const session = worker.session;
        session.names = session.names.filter((name) => name !== worker.name);
        if (session.names.length === 0) await this.#closeSession(session);
      },
    };
    this.#scaling = new WorkerScaling(launcher, this.workers, () => this.#schedulerAddress, 'ssh-', this.security);
  }

  /**
   * Checks every host, starts the scheduler on the first and workers on all,
   * and resolves once every worker has registered. On failure everything
   * started is stopped and the error names the host.
   */
  static async start(options: SSHClusterOptions): Promise<SSHCluster> {
    checkOptions(options);
    const cluster = new SSHCluster(options);
    try {
      await cluster.#preflight();
      const nprocs = options.workerOptions?.nprocs ?? 1;
      const startWorkers = (): Promise<SSHWorker[][]> =>
        Promise.all(
          options.hosts.map((_, index) => {
            const base = `ssh-${index}`;
            const names = nprocs === 1 ? [base] : Array.from({ length: nprocs }, (_, i) => `${base}-${i}`);
            return cluster.#startSession(index, names, nprocs, base);
          }),
        );
      let started: SSHWorker[][];
      const port = options.schedulerOptions?.port ?? DEFAULT_PORT;
      if (port === 0) {
        // The address is known only once the scheduler has printed it.
        await cluster.#startScheduler();
        started = await startWorkers();
      } else {
        // A known port: workers start alongside the scheduler (they keep dialling until it listens).
        cluster.#schedulerAddress = `${options.security === undefined ? "tcp" : "tls"}://${options.hosts[0]}:${port}`;
        const scheduler = cluster.#startScheduler();
        const workers = startWorkers();
        workers.catch(() => undefined);
        await scheduler;
        started = await workers;
      }
      cluster.workers.push(...started.flat());
    } catch (error) {
      await cluster.close();
      throw error;
    }
    log.info({ scheduler: cluster.schedulerAddress, workers: cluster.workers.length }, 'SSH cluster started');
    return cluster;
  }

  get schedulerAddress(): string {
    return this.#schedulerAddress;
  }

  get dashboardLink(): string | undefined {
    return this.#dashboardLink;
  }

  /** Start workers (round-robin over the hosts), or retire some gracefully, until there are `n`. */
  scale(n: number): Promise<void> {
    return this.#scaling.scale(n);
  }

  adapt(options: AdaptOptions & { onStep?: (step: AdaptiveStep) => void } = {}): Adaptive {
    return this.#scaling.adapt(options);
  }

  /** Stops every process this cluster started on every host (workers first, then the scheduler). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#scaling.close();
      await Promise.allSettled([...this.#sessions].map((session) => this.#closeSession(session)));
      await this.#scheduler?.close();
      if (this.#tlsDir !== undefined) rmSync(this.#tlsDir, { recursive: true, force: true });
      log.debug({ tag: this.tag }, 'SSH cluster closed');
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    return `<SSHCluster: scheduler=${this.schedulerAddress} workers=${this.workers.length}>`;
  }

  /* ---------------------------------------------------------------- */

  #connect(hostIndex: number): SshConnectOptions {
    const connect = this.options.connectOptions;
    if (connect === undefined) return {};
    if (Array.isArray(connect)) return (connect as readonly SshConnectOptions[])[hostIndex] ?? {};
    return connect as SshConnectOptions;
  }

  /** Every distinct host: ssh works, the key is accepted, Node and the package are there. */
  async #preflight(): Promise<void> {
    const seen = new Map<string, number>();
    this.options.hosts.forEach((host, index) => {
      const key = `${host}\0${JSON.stringify(this.#connect(index))}`;
      if (!seen.has(key)) seen.set(key, index);
    });
    const failures = (
      await Promise.all(
        [...seen.values()].map(async (index) => {
          const host = this.options.hosts[index]!;
          const check = new RemoteProcess(host, host, preflightCommand(this.#paths), this.#connect(index), () => undefined, false);
          const exit = await check.exited;
          return exit.code === 0 ? undefined : describeFailure(host, exit.code, check.tail, this.#paths);
        }),
      )
    ).filter((failure): failure is RemoteHostError => failure !== undefined);
    if (failures.length === 1) throw failures[0]!;
    if (failures.length > 1) {
      throw new RemoteHostError(failures[0]!.host, `${failures[0]!.message.slice(failures[0]!.host.length + 2)} (also: ${failures.slice(1).map((f) => f.message).join('; ')})`);
    }
  }

  async #startScheduler(): Promise<void> {
    const host = this.options.hosts[0]!;
    const scheduler = this.options.schedulerOptions ?? {};
    const args = ['--host', scheduler.host ?? host, '--port', String(scheduler.port ?? DEFAULT_PORT)];
    if (scheduler.dashboardAddress !== undefined) args.push('--dashboard-address', scheduler.dashboardAddress);
    args.push(...this.#tlsArgs());
    const remote = new RemoteProcess(host, `${host} scheduler`, launchCommand(this.#paths, this.tag, 'bin/dscheduler.js', args), this.#connect(0), this.#sink);
    this.#scheduler = remote;
    const dashboard = remote.waitForLine(/^Dashboard at (\S+)/);
    dashboard.catch(() => undefined);
    try {
      const [, address] = await withDeadline(remote.waitForLine(/^Start scheduler at (\S+)/), this.#startTimeout, 'the scheduler to start');
      this.#schedulerAddress = address!;
    } catch (error) {
      throw new RemoteHostError(host, `the scheduler did not start: ${reason(error, remote)}`, { cause: error });
    }
    if (scheduler.dashboardAddress !== undefined) {
      const link = await withDeadline(dashboard, 5000, 'the dashboard').catch(() => undefined);
      if (link !== undefined) this.#dashboardLink = `${link[1]!.replace(/\/status$/, '')}/status`;
    }
    void remote.exited.then((exit) => {
      if (this.#closing === undefined) log.error({ host, exit }, `the scheduler on ${host} exited`);
    });
  }

  /** One dworker session on hosts[hostIndex]; resolves once its `nprocs` workers have registered. */
  async #startSession(hostIndex: number, names: string[], nprocs: number, baseName = names[0]!): Promise<SSHWorker[]> {
    if (this.#closing !== undefined) throw new DistributedError('the cluster is closed');
    const host = this.options.hosts[hostIndex]!;
    const worker = this.options.workerOptions ?? {};
    const args = [this.#schedulerAddress, '--nprocs', String(nprocs), '--name', baseName, '--host', host];
    if (worker.nthreads !== undefined) args.push('--nthreads', String(worker.nthreads));
    if (worker.memoryLimit !== undefined) args.push('--memory-limit', String(worker.memoryLimit));
    if (worker.deathTimeout !== undefined) args.push('--death-timeout', `${parseDuration(worker.deathTimeout)}ms`);
    args.push(...this.#tlsArgs());
    const remote = new RemoteProcess(host, `${host} ${baseName}`, launchCommand(this.#paths, this.tag, 'bin/dworker.js', args), this.#connect(hostIndex), this.#sink);
    const session: WorkerSession = { host, remote, names: [...names] };
    this.#sessions.add(session);
    let registered = 0;
    const allRegistered = new Promise<void>((resolve, reject) => {
      const off = remote.onLine((line) => {
        if (!line.startsWith('Registered with scheduler at')) return;
        registered += 1;
        if (registered >= nprocs) {
          off();
          resolve();
        }
      });
      void remote.exited.then((exit) => {
        off();
        reject(new Error(`dworker exited (${exit.code ?? exit.signal}) after ${registered} of ${nprocs} workers registered`));
      });
    });
    try {
      await withDeadline(allRegistered, this.#startTimeout, `${nprocs} worker(s) to register`);
    } catch (error) {
      await this.#closeSession(session);
      throw new RemoteHostError(host, `workers did not start: ${reason(error, remote)}`, { cause: error });
    }
    const workers = names.map((name) => ({ name, host, session }));
    void remote.exited.then((exit) => {
      this.#sessions.delete(session);
      // Workers of a session that ended are gone, however it ended.
      for (const w of workers) {
        const at = this.workers.indexOf(w);
        if (at >= 0) this.workers.splice(at, 1);
      }
      if (this.#closing === undefined && session.names.length > 0) log.warn({ host, exit, workers: session.names }, `a dworker session on ${host} ended`);
    });
    return workers;
  }

  async #closeSession(session: WorkerSession): Promise<void> {
    this.#sessions.delete(session);
    await session.remote.close();
  }

  #tlsArgs(): string[] {
    return [...this.#tlsFlags];
  }
}

function checkOptions(options: SSHClusterOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('SSHCluster.start expects an options object');
  if (!Array.isArray(options.hosts) || options.hosts.length === 0 || options.hosts.some((h) => typeof h !== 'string' || h.trim() === '')) {
    throw new TypeError('SSHCluster: hosts must be a non-empty list of host names');
  }
  const connect = options.connectOptions;
  if (Array.isArray(connect) && connect.length !== options.hosts.length) {
    throw new TypeError(`SSHCluster: connectOptions has ${connect.length} entries for ${options.hosts.length} hosts`);
  }
  const nprocs = options.workerOptions?.nprocs;
  if (nprocs !== undefined && !(Number.isInteger(nprocs) && nprocs >= 1)) throw new TypeError('SSHCluster: workerOptions.nprocs must be a positive integer');
}

function reason(error: unknown, remote: RemoteProcess): string {
  const message = error instanceof Error ? error.message : String(error);
  const tail = remote.tail.trim().split('\n').slice(-3).join(' / ');
  return tail === '' ? message : `${message}; last output: ${tail}`;
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
