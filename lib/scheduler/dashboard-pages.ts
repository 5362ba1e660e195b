/**
 * The dashboard's HTML pages: static shells (navigation, canvases, empty
 * tables) that load Chart.js and the dashboard script from this server and
 * then fill themselves from WebSocket updates (dashboard-live.ts). Nothing
 * user-named is put into the HTML except the worker address of an info page,
 * escaped; everything else arrives as data and is set with textContent.
 */
import { escapeHtml } from './dashboard-views.js';

const NAV: ReadonlyArray<[string, string]> = [
  ['status', 'Status'],
  ['workers', 'Workers'],
  ['graph', 'Graph'],
];

const STYLE = `
body { font: 13px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { display: flex; gap: 1.2em; align-items: baseline; padding: 0.6em 1em; background: #243447; color: #fff; }
header a { color: #cde; text-decoration: none; } header a.here { color: #fff; font-weight: bold; }
header .live { margin-left: auto; font-size: 12px; } .live.down { color: #f99; }
main { padding: 0.8em 1em; display: grid; gap: 1em; }
section { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 0.6em 0.8em; }
section h2 { font-size: 14px; margin: 0 0 0.4em; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.chart { position: relative; height: 260px; } .chart.tall { height: 380px; } .chart.graph { height: 70vh; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #eee; padding: 0.25em 0.6em; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } td { white-space: nowrap; }
ul.plain { list-style: none; margin: 0; padding: 0; columns: 2; } code { font-size: 12px; }
.legend span { display: inline-block; margin-right: 1em; } .legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }
.note { color: #777; }
`;

export interface PageOptions {
  /** For the info page: the worker shown. */
  worker?: string;
}

const BODIES: Record<'status' | 'workers' | 'graph' | 'info', string> = {
  status: `
<section><h2>Task stream <span class="note">(one row per worker thread; colour: task prefix; <span style="color:#d62728">red</span>: transfers; black: errors)</span></h2>
  <div class="chart tall"><canvas id="task-stream"></canvas></div></section>
<div class="grid2">
  <section><h2>Progress by task prefix <span class="note">(in memory · erred · processing · waiting)</span></h2>
    <div class="chart"><canvas id="progress"></canvas></div><ul class="plain" id="progress-text"></ul></section>
  <section><h2>Worker memory <span class="note">(managed · unmanaged RSS; red: paused or near the limit)</span></h2>
    <div class="chart"><canvas id="memory"></canvas></div><ul class="plain" id="memory-text"></ul></section>
</div>
<section><h2>Tasks by state</h2><table id="task-states"><thead><tr></tr></thead><tbody><tr></tr></tbody></table></section>
<section><h2>Recovery <span class="note">(scheduler restarts: restored state, workers and clients coming back)</span></h2><ul id="recovery-log"></ul></section>`,
  workers: `
<section><h2>Workers</h2>
<table id="workers-table"><thead><tr><th>name</th><th>address</th><th>status</th><th class="num">threads</th><th class="num">busy</th>
<th class="num">CPU %</th><th class="num">memory (RSS)</th><th class="num">managed</th><th class="num">limit</th><th class="num">keys</th>
<th class="num">processing</th><th class="num">transfers in</th><th class="num">transfers out</th></tr></thead><tbody></tbody>
<tfoot><tr id="workers-total"></tr></tfoot></table></section>
<section><h2>CPU per worker</h2><div class="chart"><canvas id="cpu"></canvas></div></section>`,
  graph: `
<section><h2>Task graph <span class="note">(columns: dependency depth; colour: state)</span></h2>
<div class="legend" id="graph-legend"></div><p class="note" id="graph-note"></p>
<div class="chart graph"><canvas id="graph"></canvas></div></section>`,
  info: `
<section><h2>Worker <code id="info-address"></code></h2><table id="info-table"><tbody></tbody></table></section>
<div class="grid2">
  <section><h2>Processing</h2><ul class="plain" id="info-processing"></ul></section>
  <section><h2>Keys in memory <span class="note" id="info-keys-total"></span></h2><table id="info-keys"><tbody></tbody></table></section>
</div>
<section><h2>Recent tasks on this worker</h2><table id="info-stream"><thead><tr><th>key</th><th>thread</th><th>phase</th><th class="num">ms</th><th>status</th></tr></thead><tbody></tbody></table></section>`,
};

export function renderPage(page: 'status' | 'workers' | 'graph' | 'info', options: PageOptions = {}): string {
  const nav = NAV.map(([id, label]) => `<a href="/${id}"${id === page ? ' class="here"' : ''}>${label}</a>`).join('');
  const config = JSON.stringify({ page, worker: options.worker ?? null }).replace(/</g, '\\u003c');
  const title = page === 'info' && options.worker !== undefined ? `worker ${escapeHtml(options.worker)}` : page;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>distributed-ts · ${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head><body>
<header><strong>distributed-ts</strong>${nav}<a href="/metrics">metrics</a><a href="/json/status.json">json</a><span class="live" id="live">connecting…</span></header>
<main>${BODIES[page]}
</main>
<script src="/static/chart.umd.min.js"></script>
<script src="/static/dashboard.js"></script>
<script>DashboardApp.start(${config});</script>
</body></html>
`;
}
