/**
 * The scheduler's dashboard over HTTP, on by default (dscheduler :8787,
 * LocalCluster a free port). Live pages pushed over a WebSocket
 * (dashboard-live.ts), Prometheus metrics via prom-client
 * (dashboard-metrics.ts), JSON; nothing here changes scheduler state.
 *
 *   GET /status, /workers, /graph, /info/worker/<address>   live pages
 *   GET /static/dashboard.js, /static/chart.umd.min.js       their scripts (Chart.js from node_modules)
 *   GET /ws?page=...                                         WebSocket of updates
 *   GET /json/status.json, /json/identity.json, /json/task-stream.json?since=N, /json/graph.json
 *   GET /metrics                                             Prometheus text format
 *   GET /health                                              "ok"
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { contactHost } from '../comm/contact-host.js';
import { childLogger } from '../logging.js';
import { DashboardLive, type LiveSources } from './dashboard-live.js';
import { SchedulerMetrics, type MetricsSources } from './dashboard-metrics.js';
import { renderPage } from './dashboard-pages.js';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

const log = childLogger('dashboard');

export interface DashboardSources extends LiveSources, MetricsSources {
  identity(): Record<string, unknown>;
}

let chartScript: Buffer | undefined;

/** Chart.js's browser build, read once from the installed package (never from a CDN). */
function chartJs(): Buffer {
  if (chartScript === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartScript = readFileSync(join(dirname(main), 'chart.umd.min.js'));
  }
  return chartScript;
}

/** `:8787`, `8787`, `host:8787` or `[::1]:8787`; an empty host means `defaultHost`. */
export function parseDashboardAddress(text: string, defaultHost: string): { host: string; port: number } {
  const match = /^\s*(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]*):)?(\d{1,5})\s*$/.exec(String(text));
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) {
    throw new TypeError(`invalid dashboard address ${JSON.stringify(text)}: expected [HOST]:PORT, e.g. :8787`);
  }
  const host = match[1] === undefined || match[1] === '' ? defaultHost : match[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

type Response = { status: number; type: string; body: string | Buffer; headers?: Record<string, string> };

const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json';

async function route(url: URL, sources: DashboardSources, metrics: () => SchedulerMetrics): Promise<Response> {
  const path = url.pathname;
  if (path.startsWith('/info/worker/')) {
    const worker = decodeURIComponent(path.slice('/info/worker/'.length));
    return { status: 200, type: HTML, body: renderPage('info', { worker }) };
  }
  switch (path) {
    case '/':
      return { status: 302, type: TEXT, body: 'see /status\n', headers: { location: '/status' } };
    case '/status':
    case '/workers':
    case '/graph':
      return { status: 200, type: HTML, body: renderPage(path.slice(1) as 'status' | 'workers' | 'graph') };
    case '/static/dashboard.js':
      return { status: 200, type: 'text/javascript; charset=utf-8', body: DASHBOARD_SCRIPT };
    case '/static/chart.umd.min.js':
      return { status: 200, type: 'text/javascript; charset=utf-8', body: chartJs(), headers: { 'cache-control': 'max-age=3600' } };
    case '/json/status.json':
      return { status: 200, type: JSON_TYPE, body: JSON.stringify(sources.snapshot()) };
    case '/json/identity.json':
      return { status: 200, type: JSON_TYPE, body: JSON.stringify(sources.identity()) };
    case '/json/task-stream.json': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return { status: 200, type: JSON_TYPE, body: JSON.stringify(sources.taskStreamSince(Number.isFinite(since) && since >= 0 ? since : 0)) };
    }
    case '/json/graph.json':
      return { status: 200, type: JSON_TYPE, body: JSON.stringify(sources.graph(5000)) };
    case '/metrics':
      return { status: 200, type: SchedulerMetrics.contentType, body: await metrics().render() };
    case '/favicon.ico':
      // Browsers ask for it on every page; none is shipped, and a 404 shows as a console error.
      return { status: 204, type: 'image/x-icon', body: '' };
    case '/health':
      return { status: 200, type: TEXT, body: 'ok\n' };
    default:
      return { status: 404, type: TEXT, body: `no page ${path}; try /status\n` };
  }
}

export class DashboardServer {
  private constructor(
    private readonly server: http.Server,
    private readonly live: DashboardLive,
    /** `http://host:port`, with a dialable host for wildcard binds. */
    readonly url: string,
  ) {}

  /** Keep the process alive while listening (the default), or not (a cluster a Client owns). */
  setRef(keep: boolean): void {
    if (keep) this.server.ref();
    else this.server.unref();
  }

  /** With `fallback`, a taken port is replaced by a free one (and a warning logged) instead of failing. */
  static async start(address: string, defaultHost: string, sources: DashboardSources, fallback = false): Promise<DashboardServer> {
    const { host, port } = parseDashboardAddress(address, defaultHost);
    try {
      return await DashboardServer.listen(host, port, sources);
    } catch (error) {
      if (!fallback || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
      const server = await DashboardServer.listen(host, 0, sources);
      log.warn({ wanted: port, url: server.url }, `port ${port} is in use; the dashboard is at ${server.url} instead`);
      process.emitWarning(`dashboard port ${port} is in use; serving the dashboard at ${server.url} instead`, { code: 'DTS_DASHBOARD_PORT' });
      return server;
    }
  }

  private static listen(host: string, port: number, sources: DashboardSources): Promise<DashboardServer> {
    let metrics: SchedulerMetrics | undefined;
    const metricsOnce = (): SchedulerMetrics => (metrics ??= new SchedulerMetrics(sources));
    const live = new DashboardLive(sources);
    const server = http.createServer((request, response) => {
      const send = (page: Response): void => {
        response.writeHead(page.status, { 'content-type': page.type, 'cache-control': 'no-store', ...page.headers });
        response.end(request.method === 'HEAD' ? undefined : page.body);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        send({ status: 405, type: TEXT, body: 'only GET\n', headers: { allow: 'GET, HEAD' } });
        return;
      }
      route(new URL(request.url ?? '/', 'http://dashboard'), sources, metricsOnce).then(send, (error: unknown) => {
        log.error({ err: error, url: request.url }, 'dashboard page failed');
        send({ status: 500, type: TEXT, body: 'the page could not be rendered (see the scheduler log)\n' });
      });
    });
    server.on('upgrade', (request, socket, head) => {
      if (new URL(request.url ?? '/', 'http://dashboard').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      live.handleUpgrade(request, socket, head);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (error) => log.error({ err: error }, 'dashboard server error'));
        const bound = server.address() as AddressInfo;
        const shown = contactHost(host);
        resolve(new DashboardServer(server, live, `http://${shown.includes(':') ? `[${shown}]` : shown}:${bound.port}`));
      });
    });
  }

  /** Open WebSocket connections (pages being watched). */
  get viewers(): number {
    return this.live.connections;
  }

  /** Stops listening and drops open connections (browsers keep them alive). */
  close(): Promise<void> {
    this.live.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
