/**
 * The dashboard's pages, rendered from a DashboardSnapshot: an HTML status
 * page that refreshes itself (workers, tasks by state, progress per task
 * prefix) and Prometheus text metrics. Pure string building; every value that
 * comes from users (worker names, task prefixes) is escaped.
 */
import { TASK_STATES, type DashboardSnapshot, type StateCounts } from './dashboard-snapshot.js';

/** Seconds between automatic reloads of the status page. */
export const STATUS_REFRESH_SECONDS = 2;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

export function formatBytes(bytes: number): string {
  if (!(bytes > 0)) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** Tasks a progress bar counts as done, and all it counts (forgotten and released ones are not shown). */
function progressOf(counts: StateCounts): { done: number; erred: number; total: number } {
  const done = counts.memory;
  const erred = counts.erred;
  const total = done + erred + counts.processing + counts.queued + counts.waiting + counts['no-worker'];
  return { done, erred, total };
}

function progressBar(counts: StateCounts): string {
  const { done, erred, total } = progressOf(counts);
  if (total === 0) return '';
  const donePct = (100 * done) / total;
  const erredPct = (100 * erred) / total;
  return `<div class="bar"><span class="done" style="width:${donePct.toFixed(1)}%"></span><span class="erred" style="width:${erredPct.toFixed(1)}%"></span></div>`;
}

export function renderStatusPage(snapshot: DashboardSnapshot): string {
  const { scheduler, workers, tasks, prefixes } = snapshot;
  const workerRows = workers
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.name)}</td><td><code>${escapeHtml(w.address)}</code></td><td>${escapeHtml(w.status)}</td>` +
        `<td>${w.nthreads}</td><td>${w.processing}</td><td>${w.keys}</td><td>${formatBytes(w.nbytes)}</td>` +
        `<td>${w.memoryLimit > 0 ? formatBytes(w.memoryLimit) : '—'}</td><td>${w.pid > 0 ? w.pid : '—'}</td></tr>`,
    )
    .join('\n');
  const stateCells = TASK_STATES.filter((s) => s !== 'forgotten')
    .map((s) => `<td>${tasks.counts[s]}</td>`)
    .join('');
  const prefixRows = prefixes
    .map((p) => {
      const { done, erred, total } = progressOf(p.counts);
      return (
        `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${progressBar(p.counts)}</td><td>${done} / ${total}</td>` +
        `<td>${erred}</td><td>${p.counts.processing}</td><td>${p.durationMs >= 0 ? `${p.durationMs.toFixed(2)} ms` : '—'}</td></tr>`
      );
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${STATUS_REFRESH_SECONDS}">
<title>distributed-ts scheduler</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
.bar { width: 16em; height: 0.9em; background: #eee; display: flex; }
.bar .done { background: #3a7; } .bar .erred { background: #d44; }
</style></head><body>
<h1>Scheduler <code>${escapeHtml(scheduler.address)}</code></h1>
<p>${workers.length} worker${workers.length === 1 ? '' : 's'}, ${workers.reduce((n, w) => n + w.nthreads, 0)} threads,
${snapshot.clients} client${snapshot.clients === 1 ? '' : 's'}; up ${Math.round(scheduler.uptimeSeconds)} s.
Also as <a href="json/status.json">JSON</a> and <a href="metrics">metrics</a>.</p>
<h2>Tasks</h2>
<table><tr>${TASK_STATES.filter((s) => s !== 'forgotten').map((s) => `<th>${s}</th>`).join('')}<th>total</th></tr>
<tr>${stateCells}<td>${tasks.total}</td></tr></table>
<h2>Progress by task prefix</h2>
<table><tr><th>prefix</th><th></th><th>in memory</th><th>erred</th><th>processing</th><th>mean run time</th></tr>
${prefixRows}
</table>
<h2>Workers</h2>
<table><tr><th>name</th><th>address</th><th>status</th><th>threads</th><th>processing</th><th>keys</th><th>stored</th><th>memory limit</th><th>pid</th></tr>
${workerRows}
</table>
</body></html>
`;
}

/** A Prometheus label value: backslash, quote and newline escaped. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(snapshot: DashboardSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric('dts_scheduler_clients', 'Connected clients.', 'gauge', [['', snapshot.clients]]);
  metric('dts_scheduler_workers', 'Workers registered with the scheduler.', 'gauge', [['', snapshot.workers.length]]);
  metric('dts_scheduler_tasks', 'Tasks the scheduler knows, by state.', 'gauge',
    TASK_STATES.filter((s) => s !== 'forgotten').map((s) => [`{state="${s}"}`, snapshot.tasks.counts[s]]));
  metric('dts_scheduler_prefix_tasks', 'Tasks by prefix and state.', 'gauge',
    snapshot.prefixes.flatMap((p) => TASK_STATES.filter((s) => s !== 'forgotten' && p.counts[s] > 0).map((s): [string, number] => [`{prefix="${label(p.name)}",state="${s}"}`, p.counts[s]])));
  metric('dts_worker_threads', 'Threads of each worker.', 'gauge', snapshot.workers.map((w) => [`{worker="${label(w.address)}"}`, w.nthreads]));
  metric('dts_worker_processing_tasks', 'Tasks assigned to each worker and not yet done.', 'gauge', snapshot.workers.map((w) => [`{worker="${label(w.address)}"}`, w.processing]));
  metric('dts_worker_stored_bytes', 'Bytes of results each worker holds.', 'gauge', snapshot.workers.map((w) => [`{worker="${label(w.address)}"}`, w.nbytes]));
  return `${lines.join('\n')}\n`;
}
