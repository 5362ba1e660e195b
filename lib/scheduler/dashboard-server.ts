/**
 * The scheduler's dashboard over HTTP (`dashboardAddress`, `dscheduler
 * --dashboard-address :8787`): a status page, JSON and Prometheus metrics.
 * A thin shell: each request takes a fresh snapshot from the scheduler and
 * renders it (dashboard-views.ts); nothing here changes scheduler state.
 *
 *   GET /status               HTML, reloads itself every few seconds
 *   GET /json/status.json     the snapshot as JSON
 *   GET /json/identity.json   what client.schedulerInfo() returns
 *   GET /metrics              Prometheus text format
 *   GET /health               "ok"
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { contactHost } from '../comm/contact-host.js';
import { childLogger } from '../logging.js';
import type { DashboardSnapshot } from './dashboard-snapshot.js';
import { renderMetrics, renderStatusPage } from './dashboard-views.js';

const log = childLogger('dashboard');

export interface DashboardSources {
  snapshot(): DashboardSnapshot;
  identity(): Record<string, unknown>;
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

type Page = { status: number; type: string; body: string; headers?: Record<string, string> };

function route(path: string, sources: DashboardSources): Page {
  switch (path) {
    case '/':
      return { status: 302, type: 'text/plain; charset=utf-8', body: 'see /status\n', headers: { location: '/status' } };
    case '/status':
      return { status: 200, type: 'text/html; charset=utf-8', body: renderStatusPage(sources.snapshot()) };
    case '/json/status.json':
      return { status: 200, type: 'application/json', body: JSON.stringify(sources.snapshot()) };
    case '/json/identity.json':
      return { status: 200, type: 'application/json', body: JSON.stringify(sources.identity()) };
    case '/metrics':
      return { status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: renderMetrics(sources.snapshot()) };
    case '/health':
      return { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' };
    default:
      return { status: 404, type: 'text/plain; charset=utf-8', body: `no page ${path}; try /status\n` };
  }
}

export class DashboardServer {
  private constructor(
    private readonly server: http.Server,
    /** `http://host:port`, with a dialable host for wildcard binds. */
    readonly url: string,
  ) {}

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
    const server = http.createServer((request, response) => {
      let page: Page;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        page = { status: 405, type: 'text/plain; charset=utf-8', body: 'only GET\n', headers: { allow: 'GET, HEAD' } };
      } else {
        try {
          page = route(new URL(request.url ?? '/', 'http://dashboard').pathname, sources);
        } catch (error) {
          log.error({ err: error, url: request.url }, 'dashboard page failed');
          page = { status: 500, type: 'text/plain; charset=utf-8', body: 'the page could not be rendered (see the scheduler log)\n' };
        }
      }
      response.writeHead(page.status, { 'content-type': page.type, 'cache-control': 'no-store', ...page.headers });
      response.end(request.method === 'HEAD' ? undefined : page.body);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (error) => log.error({ err: error }, 'dashboard server error'));
        const bound = server.address() as AddressInfo;
        const shown = contactHost(host);
        resolve(new DashboardServer(server, `http://${shown.includes(':') ? `[${shown}]` : shown}:${bound.port}`));
      });
    });
  }

  /** Stops listening and drops open connections (browsers keep them alive). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
