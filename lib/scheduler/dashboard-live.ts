/**
 * Live dashboard updates over WebSocket (the `ws` package): a browser page
 * opens `/ws?page=status|workers|graph|info&worker=ADDR` and the scheduler
 * pushes it a JSON update every `interval` ms: the state it shows, and for
 * the task stream only the records added since its last update. Nothing runs
 * while no page is open: the timer starts with the first socket and stops
 * with the last. A slow browser is skipped (not queued up) while its socket
 * still has more than `maxBuffered` bytes unsent.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { childLogger } from '../logging.js';
import type { TaskStreamRecord } from '../protocol/messages.js';
import type { DashboardSnapshot, GraphSnapshot, WorkerInfoView } from './dashboard-snapshot.js';

const log = childLogger('dashboard');

export const PAGES = ['status', 'workers', 'graph', 'info'] as const;
export type Page = (typeof PAGES)[number];

export interface LiveSources {
  snapshot(): DashboardSnapshot;
  taskStreamSince(index: number): { records: TaskStreamRecord[]; next: number };
  graph(max: number): GraphSnapshot;
  workerInfo(address: string): WorkerInfoView | undefined;
}

export interface LiveOptions {
  /** ms between pushes (default 200). */
  interval?: number;
  /** ms between graph pushes (default 1000: a graph of thousands of nodes is the largest message). */
  graphInterval?: number;
  /** At most this many task-stream records per push (default 1000, the newest). */
  maxRecords?: number;
  /** Graphs with more tasks are not drawn (default 5000). */
  graphMaxTasks?: number;
  maxBuffered?: number;
}

interface Viewer {
  page: Page;
  worker: string | undefined;
  since: number;
  lastGraph: number;
}

export class DashboardLive {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly viewers = new Map<WebSocket, Viewer>();
  private timer: NodeJS.Timeout | undefined;
  private readonly interval: number;
  private readonly graphInterval: number;
  private readonly maxRecords: number;
  private readonly graphMaxTasks: number;
  private readonly maxBuffered: number;
  /** Pushes sent since start (tests and diagnostics). */
  pushes = 0;

  constructor(private readonly sources: LiveSources, options: LiveOptions = {}) {
    this.interval = options.interval ?? 200;
    this.graphInterval = options.graphInterval ?? 1000;
    this.maxRecords = options.maxRecords ?? 1000;
    this.graphMaxTasks = options.graphMaxTasks ?? 5000;
    this.maxBuffered = options.maxBuffered ?? 4 * 1024 * 1024;
  }

  get connections(): number {
    return this.viewers.size;
  }

  /** Takes over an HTTP upgrade request for `/ws`. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const page = url.searchParams.get('page') ?? 'status';
    if (!(PAGES as readonly string[]).includes(page)) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const worker = url.searchParams.get('worker') ?? undefined;
    this.wss.handleUpgrade(request, socket, head, (ws) => this.add(ws, { page: page as Page, worker, since: 0, lastGraph: -Infinity }));
  }

  private add(ws: WebSocket, viewer: Viewer): void {
    this.viewers.set(ws, viewer);
    ws.on('close', () => {
      this.viewers.delete(ws);
      if (this.viewers.size === 0) this.stop();
    });
    ws.on('error', (error) => log.debug({ err: error }, 'dashboard socket error'));
    ws.on('message', () => undefined); // pages send nothing that matters
    this.push(ws, viewer, this.sources.snapshot());
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.interval);
      this.timer.unref();
    }
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.viewers.size === 0) return this.stop();
    let snapshot: DashboardSnapshot | undefined;
    for (const [ws, viewer] of this.viewers) {
      if (ws.readyState !== ws.OPEN || ws.bufferedAmount > this.maxBuffered) continue;
      try {
        this.push(ws, viewer, (snapshot ??= this.sources.snapshot()));
      } catch (error) {
        log.error({ err: error, page: viewer.page }, 'building a dashboard update failed');
      }
    }
  }

  private push(ws: WebSocket, viewer: Viewer, snapshot: DashboardSnapshot): void {
    const update: Record<string, unknown> = { page: viewer.page, time: Date.now(), snapshot };
    if (viewer.page === 'status' || viewer.page === 'info') {
      const { records, next } = this.sources.taskStreamSince(viewer.since);
      viewer.since = next;
      let fresh = records.length > this.maxRecords ? records.slice(-this.maxRecords) : records;
      if (viewer.page === 'info') fresh = fresh.filter((r) => r.worker === viewer.worker);
      update.stream = fresh;
    }
    if (viewer.page === 'graph') {
      const now = performance.now();
      if (now - viewer.lastGraph < this.graphInterval) return;
      viewer.lastGraph = now;
      update.graph = this.sources.graph(this.graphMaxTasks);
    }
    if (viewer.page === 'info') update.info = viewer.worker === undefined ? null : (this.sources.workerInfo(viewer.worker) ?? null);
    ws.send(JSON.stringify(update));
    this.pushes++;
  }

  close(): void {
    this.stop();
    for (const ws of this.viewers.keys()) ws.terminate();
    this.viewers.clear();
    this.wss.close();
  }
}
