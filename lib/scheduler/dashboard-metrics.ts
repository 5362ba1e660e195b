/**
 * `/metrics` in Prometheus text format, built with prom-client: its default
 * process metrics (CPU, memory, handles, GC, event-loop lag; one registry per
 * process, since they describe the process), plus this scheduler's gauges and
 * counters, read from a fresh snapshot at each scrape. Nothing is measured
 * between scrapes except what prom-client's defaults sample themselves; the
 * registries are created on the first scrape, so a scheduler nobody scrapes
 * pays nothing.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { TASK_STATES, type DashboardSnapshot } from './dashboard-snapshot.js';

export interface MetricsSources {
  snapshot(): DashboardSnapshot;
  counters(): { finished: number; erred: number; transfers: number; transferBytes: number };
}

let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const SHOWN_STATES = TASK_STATES.filter((s) => s !== 'forgotten');

export class SchedulerMetrics {
  private readonly registry = new Registry();
  /** The snapshot of the scrape under way (every gauge reads the same one). */
  private current: DashboardSnapshot | undefined;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    const snap = (): DashboardSnapshot => (this.current ??= this.sources.snapshot());
    new Gauge({ name: 'dts_scheduler_clients', help: 'Connected clients.', registers, collect() { this.set(snap().clients); } });
    new Gauge({ name: 'dts_scheduler_workers', help: 'Workers registered with the scheduler.', registers, collect() { this.set(snap().workers.length); } });
    new Gauge({
      name: 'dts_scheduler_workers_by_status', help: 'Workers by status (running, paused, ...).', labelNames: ['status'], registers,
      collect() {
        this.reset();
        for (const w of snap().workers) this.inc({ status: w.status });
      },
    });
    new Gauge({
      name: 'dts_scheduler_tasks', help: 'Tasks the scheduler knows, by state.', labelNames: ['state'], registers,
      collect() {
        const counts = snap().tasks.counts;
        for (const state of SHOWN_STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'dts_scheduler_prefix_tasks', help: 'Tasks by prefix and state.', labelNames: ['prefix', 'state'], registers,
      collect() {
        this.reset();
        for (const p of snap().prefixes) for (const state of SHOWN_STATES) if (p.counts[state] > 0) this.set({ prefix: p.name, state }, p.counts[state]);
      },
    });
    new Gauge({
      name: 'dts_scheduler_stored_bytes', help: 'Bytes of results held by all workers.', registers,
      collect() { this.set(snap().workers.reduce((n, w) => n + w.nbytes, 0)); },
    });
    const perWorker = (name: string, help: string, read: (w: DashboardSnapshot['workers'][number]) => number | undefined): void => {
      new Gauge({
        name, help, labelNames: ['worker'], registers,
        collect() {
          this.reset();
          for (const w of snap().workers) {
            const value = read(w);
            if (value !== undefined) this.set({ worker: w.address }, value);
          }
        },
      });
    };
    perWorker('dts_worker_threads', 'Threads of each worker.', (w) => w.nthreads);
    perWorker('dts_worker_processing_tasks', 'Tasks assigned to each worker and not yet done.', (w) => w.processing);
    perWorker('dts_worker_stored_bytes', 'Bytes of results each worker holds.', (w) => w.nbytes);
    perWorker('dts_worker_memory_limit_bytes', 'Memory limit of each worker (0: none).', (w) => w.memoryLimit);
    perWorker('dts_worker_rss_bytes', 'Resident memory of each worker process (last heartbeat).', (w) => w.metrics?.rss);
    perWorker('dts_worker_spilled_bytes', 'Bytes each worker moved to disk (last heartbeat; 0 without a memory limit).', (w) => w.spilledBytes);
    perWorker('dts_worker_cpu_percent', 'CPU use of each worker process (last heartbeat; 100 = one core).', (w) => w.metrics?.cpu);
    perWorker('dts_worker_busy_threads', 'Threads running a task (last heartbeat).', (w) => w.metrics?.busyThreads);
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name, help, registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    counter('dts_tasks_finished_total', 'Task results reported by workers.', () => this.sources.counters().finished);
    counter('dts_tasks_erred_total', 'Task errors reported by workers.', () => this.sources.counters().erred);
    counter('dts_transfers_total', 'Fetches of data between workers.', () => this.sources.counters().transfers);
    counter('dts_transfer_bytes_total', 'Bytes fetched between workers.', () => this.sources.counters().transferBytes);
  }

  async render(): Promise<string> {
    this.current = undefined;
    try {
      const own = await this.registry.metrics();
      const process = await processMetrics().metrics();
      return `${own}\n${process}`;
    } finally {
      this.current = undefined;
    }
  }

  static readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
}
