/**
 * The dashboard pages' browser script, served as /static/dashboard.js: plain ES2019 run by
 * the browser (not by Node), kept here as text so the package ships it without a bundler.
 * It draws with Chart.js (served from node_modules as /static/chart.umd.min.js) and
 * exposes `window.dashboardState` (updates received, rectangles drawn, progress) for
 * the browser tests.
 */
export const DASHBOARD_SCRIPT = String.raw`
/* distributed-ts dashboard: runs in the browser; fed by the scheduler over a WebSocket. */
(function () {
  'use strict';
  // 18 colours from viridis, as dask's task stream: a task prefix keeps its colour on every page.
  var PALETTE = ['#440154', '#481668', '#482878', '#443983', '#3e4989', '#375a8c', '#31688e', '#2b758e', '#26828e',
    '#21918c', '#1f9e89', '#25ab82', '#35b779', '#4ec36b', '#6ece58', '#90d743', '#b5de2b', '#dae319'];
  var STATE_COLORS = { released: '#1f77b4', waiting: '#b0b0b0', 'no-worker': '#ff7f0e', queued: '#e6c700',
    processing: '#2ca02c', memory: '#d62728', erred: '#000000', forgotten: '#eeeeee' };
  var MAX_RECTANGLES = 1000;

  var state = { page: null, updates: 0, connected: false, rectangles: 0, drawnKeys: [], progress: {}, memoryWorkers: [], lastUpdate: 0, graphNodes: 0,
    retries: 0, recovery: [] };
  window.dashboardState = state;

  function hash(text) {
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }
  function prefixColor(prefix) { return PALETTE[hash(prefix) % PALETTE.length]; }
  function prefixOf(key) { var i = key.lastIndexOf('-'); return i <= 0 ? key : key.slice(0, i); }
  function bytes(n) {
    if (!(n > 0)) return '0 B';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'], u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return (u === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[u];
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function replaceChildren(parent, children) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    for (var i = 0; i < children.length; i++) parent.appendChild(children[i]);
  }
  function row(cells, numeric) {
    var tr = document.createElement('tr');
    for (var i = 0; i < cells.length; i++) tr.appendChild(el('td', cells[i], numeric && numeric[i] ? 'num' : ''));
    return tr;
  }
  function setLive(text, down) {
    var live = document.getElementById('live');
    if (!live) return;
    live.textContent = text;
    live.className = down ? 'live down' : 'live';
  }
  function workerLabel(snapshot, address) {
    for (var i = 0; i < snapshot.workers.length; i++) if (snapshot.workers[i].address === address) return snapshot.workers[i].name;
    return address;
  }

  function connect(config, onUpdate) {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?page=' + encodeURIComponent(config.page) +
      (config.worker ? '&worker=' + encodeURIComponent(config.worker) : '');
    var socket = new WebSocket(url);
    socket.onopen = function () { state.connected = true; state.retries = 0; setLive('live'); };
    socket.onmessage = function (event) {
      var update = JSON.parse(event.data);
      state.updates++;
      state.lastUpdate = update.time;
      onUpdate(update);
    };
    socket.onclose = function () {
      state.connected = false;
      // The scheduler went away (a restart, say): the page keeps knocking, and says so.
      setLive('scheduler connection lost, retrying (' + (state.retries++) + ')', true);
      setTimeout(function () { connect(config, onUpdate); }, 1000);
    };
  }

  var baseOptions = { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } } };
  function options(extra) {
    var out = JSON.parse(JSON.stringify(baseOptions));
    for (var k in extra) out[k] = extra[k];
    return out;
  }

  /* ------------------------------------------------------------ status */

  function TaskStream(canvas) {
    this.rows = [];
    this.rowOf = {};
    this.origin = null;
    this.points = [];
    this.colors = [];
    var self = this;
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { datasets: [{ data: this.points, backgroundColor: this.colors, borderWidth: 0, barPercentage: 0.85, categoryPercentage: 1, grouped: false }] },
      options: options({
        indexAxis: 'y',
        scales: { x: { type: 'linear', title: { display: true, text: 'seconds' } }, y: { type: 'category', labels: this.rows } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) {
          var p = ctx.raw; return p.key + ' · ' + p.action + ' · ' + ((p.x[1] - p.x[0]) * 1000).toFixed(1) + ' ms';
        } } } },
      }),
    });
    this.chart.$self = self;
  }
  TaskStream.prototype.add = function (records, snapshot) {
    if (records.length === 0) return;
    for (var i = 0; i < records.length; i++) {
      var r = records[i];
      var name = workerLabel(snapshot, r.worker);
      var label = r.thread === null ? name + ' · transfers' : name + ' · thread ' + r.thread;
      if (this.rowOf[label] === undefined) {
        this.rowOf[label] = this.rows.length;
        this.rows.push(label);
      }
      for (var j = 0; j < r.startstops.length; j++) {
        var s = r.startstops[j];
        if (this.origin === null) this.origin = s.start;
        var color = s.action === 'transfer' ? '#d62728' : r.status === 'error' ? '#000000' : s.action === 'compute' ? prefixColor(prefixOf(r.key)) : '#ff7f0e';
        this.points.push({ x: [(s.start - this.origin) / 1000, (Math.max(s.stop, s.start + 0.5) - this.origin) / 1000], y: label, key: r.key, action: s.action });
        this.colors.push(color);
        state.drawnKeys.push(r.key);
      }
    }
    if (this.points.length > MAX_RECTANGLES) {
      var drop = this.points.length - MAX_RECTANGLES;
      this.points.splice(0, drop);
      this.colors.splice(0, drop);
      state.drawnKeys.splice(0, state.drawnKeys.length - MAX_RECTANGLES);
    }
    this.chart.options.scales.y.labels = this.rows;
    this.chart.update('none');
    state.rectangles = this.chart.getDatasetMeta(0).data.length;
  };

  function Progress(canvas, list) {
    this.list = list;
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'in memory', data: [], backgroundColor: [] },
        { label: 'erred', data: [], backgroundColor: '#000000' },
        { label: 'processing', data: [], backgroundColor: 'rgba(120,120,120,0.6)' },
        { label: 'waiting', data: [], backgroundColor: 'rgba(200,200,200,0.35)' },
      ] },
      options: options({ indexAxis: 'y', scales: { x: { stacked: true, min: 0, max: 100, title: { display: true, text: '% of tasks' } }, y: { stacked: true } } }),
    });
  }
  Progress.prototype.update = function (prefixes) {
    var labels = [], memory = [], erred = [], processing = [], waiting = [], colors = [], items = [];
    state.progress = {};
    for (var i = 0; i < prefixes.length; i++) {
      var p = prefixes[i], c = p.counts;
      var waitingCount = c.waiting + c.queued + c['no-worker'];
      var total = c.memory + c.erred + c.processing + waitingCount;
      if (total === 0) continue;
      var done = c.memory + c.erred;
      var pct = Math.round((100 * done) / total);
      state.progress[p.name] = { done: done, total: total, percent: pct, erred: c.erred };
      labels.push(p.name.length > 20 ? p.name.slice(0, 19) + '…' : p.name);
      memory.push((100 * c.memory) / total);
      erred.push((100 * c.erred) / total);
      processing.push((100 * c.processing) / total);
      waiting.push((100 * waitingCount) / total);
      colors.push(prefixColor(p.name));
      var item = el('li', p.name + ': ' + done + ' / ' + total + ' (' + pct + '%)' + (c.erred > 0 ? ', ' + c.erred + ' erred' : ''));
      item.setAttribute('data-prefix', p.name);
      item.setAttribute('data-percent', String(pct));
      items.push(item);
    }
    var data = this.chart.data;
    data.labels = labels;
    data.datasets[0].data = memory;
    data.datasets[0].backgroundColor = colors;
    data.datasets[1].data = erred;
    data.datasets[2].data = processing;
    data.datasets[3].data = waiting;
    this.chart.update('none');
    replaceChildren(this.list, items);
  };

  function memoryColor(w) {
    var used = w.metrics ? w.metrics.rss : w.nbytes;
    if (w.status === 'paused' || w.status === 'closing' || (w.memoryLimit > 0 && used >= 0.95 * w.memoryLimit)) return '#d62728';
    if (w.memoryLimit > 0 && used >= 0.6 * w.memoryLimit) return '#ff7f0e';
    return '#1f77b4';
  }

  function Memory(canvas, list) {
    this.list = list;
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'managed', data: [], backgroundColor: [] },
        { label: 'unmanaged (RSS - managed)', data: [], backgroundColor: [] },
        { label: 'spilled to disk', data: [], backgroundColor: [] },
      ] },
      options: options({ indexAxis: 'y', scales: { x: { stacked: true, min: 0, title: { display: true, text: 'MB' } }, y: { stacked: true } } }),
    });
  }
  Memory.prototype.update = function (workers) {
    var labels = [], managed = [], unmanaged = [], spilled = [], solid = [], light = [], grey = [], items = [], max = 0;
    state.memoryWorkers = [];
    for (var i = 0; i < workers.length; i++) {
      var w = workers[i];
      var held = w.metrics ? w.metrics.managedBytes : w.nbytes;
      var rss = w.metrics ? w.metrics.rss : held;
      var color = memoryColor(w);
      labels.push(w.name);
      managed.push(held / 1e6);
      unmanaged.push(Math.max(0, rss - held) / 1e6);
      spilled.push((w.spilledBytes || 0) / 1e6);
      solid.push(color);
      light.push(color + '66');
      grey.push('#999999');
      max = Math.max(max, rss + (w.spilledBytes || 0), w.memoryLimit);
      state.memoryWorkers.push({ address: w.address, name: w.name, managed: held, rss: rss, limit: w.memoryLimit, status: w.status, color: color });
      var item = el('li', w.name + ': ' + bytes(held) + ' managed, ' + bytes(rss) + ' RSS' + (w.memoryLimit > 0 ? ' of ' + bytes(w.memoryLimit) : '') +
        (w.spilledBytes > 0 ? ', ' + bytes(w.spilledBytes) + ' spilled to disk' : '') + (w.status !== 'running' ? ' (' + w.status + ')' : ''));
      item.setAttribute('data-worker', w.address);
      items.push(item);
    }
    var data = this.chart.data;
    data.labels = labels;
    data.datasets[0].data = managed;
    data.datasets[0].backgroundColor = solid;
    data.datasets[1].data = unmanaged;
    data.datasets[2].data = spilled;
    data.datasets[2].backgroundColor = grey;
    data.datasets[1].backgroundColor = light;
    this.chart.options.scales.x.max = max > 0 ? max / 1e6 : undefined;
    this.chart.update('none');
    replaceChildren(this.list, items);
  };

  function taskStates(table, counts) {
    var states = ['released', 'waiting', 'no-worker', 'queued', 'processing', 'memory', 'erred'];
    var head = table.tHead.rows[0], body = table.tBodies[0].rows[0];
    if (head.cells.length === 0) for (var i = 0; i < states.length; i++) head.appendChild(el('th', states[i], 'num'));
    replaceChildren(body, states.map(function (s) { var td = el('td', counts[s], 'num'); td.setAttribute('data-state', s); return td; }));
  }

  /** What a scheduler restart brought back: restored state, workers and clients coming back (newest last). */
  function recoveryLog(list, notes) {
    state.recovery = notes.map(function (n) { return n.text; });
    if (notes.length === 0) { replaceChildren(list, [el('li', 'nothing to report: no restart, no reconnection', 'note')]); return; }
    replaceChildren(list, notes.map(function (n) {
      var li = el('li', new Date(n.time).toLocaleTimeString() + '  ' + n.text);
      li.setAttribute('data-recovery', n.text);
      return li;
    }));
  }

  function startStatus(config) {
    var stream = new TaskStream(document.getElementById('task-stream'));
    var progress = new Progress(document.getElementById('progress'), document.getElementById('progress-text'));
    var memory = new Memory(document.getElementById('memory'), document.getElementById('memory-text'));
    var table = document.getElementById('task-states');
    var recovery = document.getElementById('recovery-log');
    connect(config, function (update) {
      stream.add(update.stream || [], update.snapshot);
      progress.update(update.snapshot.prefixes);
      memory.update(update.snapshot.workers);
      taskStates(table, update.snapshot.tasks.counts);
      recoveryLog(recovery, update.snapshot.recovery || []);
    });
  }

  /* ------------------------------------------------------------ workers */

  function startWorkers(config) {
    var body = document.querySelector('#workers-table tbody');
    var total = document.getElementById('workers-total');
    var cpu = new Chart(document.getElementById('cpu'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'CPU %', data: [], backgroundColor: '#1f77b4' }] },
      options: options({ scales: { y: { min: 0, suggestedMax: 100, title: { display: true, text: '% of one core' } } } }),
    });
    connect(config, function (update) {
      var rows = [], sum = { threads: 0, busy: 0, cpu: 0, rss: 0, managed: 0, keys: 0, processing: 0, tin: 0, tout: 0 };
      var ws = update.snapshot.workers;
      for (var i = 0; i < ws.length; i++) {
        var w = ws[i], m = w.metrics || null;
        var name = el('td'), link = el('a', w.name);
        link.href = '/info/worker/' + encodeURIComponent(w.address);
        name.appendChild(link);
        var tr = row(['', w.address, w.status, w.nthreads, m ? m.busyThreads : '—', m ? m.cpu.toFixed(1) : '—', m ? bytes(m.rss) : '—',
          bytes(m ? m.managedBytes : w.nbytes), w.memoryLimit > 0 ? bytes(w.memoryLimit) : '—', w.keys, w.processing,
          m ? m.transfersIn + ' (' + bytes(m.transferBytesIn) + ')' : '—', m ? m.transfersOut + ' (' + bytes(m.transferBytesOut) + ')' : '—'],
          [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        tr.replaceChild(name, tr.firstChild);
        tr.setAttribute('data-worker', w.address);
        rows.push(tr);
        sum.threads += w.nthreads; sum.keys += w.keys; sum.processing += w.processing;
        if (m) { sum.busy += m.busyThreads; sum.cpu += m.cpu; sum.rss += m.rss; sum.managed += m.managedBytes; sum.tin += m.transfersIn; sum.tout += m.transfersOut; }
      }
      replaceChildren(body, rows);
      var totals = row(['Total (' + ws.length + ')', '', '', sum.threads, sum.busy, sum.cpu.toFixed(1), bytes(sum.rss), bytes(sum.managed), '',
        sum.keys, sum.processing, sum.tin, sum.tout], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      replaceChildren(total, Array.prototype.slice.call(totals.childNodes));
      cpu.data.labels = ws.map(function (w) { return w.name; });
      cpu.data.datasets[0].data = ws.map(function (w) { return w.metrics ? w.metrics.cpu : 0; });
      cpu.update('none');
    });
  }

  /* ------------------------------------------------------------ graph */

  function startGraph(config) {
    var legend = document.getElementById('graph-legend');
    Object.keys(STATE_COLORS).forEach(function (s) {
      if (s === 'forgotten') return;
      var item = el('span'), swatch = el('i');
      swatch.style.background = STATE_COLORS[s];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s));
      legend.appendChild(item);
    });
    var note = document.getElementById('graph-note');
    var edges = [];
    var edgePlugin = {
      id: 'edges',
      beforeDatasetsDraw: function (chart) {
        var pts = chart.data.datasets[0].data, x = chart.scales.x, y = chart.scales.y, ctx = chart.ctx;
        ctx.save();
        ctx.strokeStyle = 'rgba(0,0,0,0.25)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (var i = 0; i < edges.length; i++) {
          var a = pts[edges[i][0]], b = pts[edges[i][1]];
          if (!a || !b) continue;
          ctx.moveTo(x.getPixelForValue(a.x), y.getPixelForValue(a.y));
          ctx.lineTo(x.getPixelForValue(b.x), y.getPixelForValue(b.y));
        }
        ctx.stroke();
        ctx.restore();
      },
    };
    var chart = new Chart(document.getElementById('graph'), {
      type: 'scatter',
      data: { datasets: [{ data: [], backgroundColor: [], pointRadius: 4 }] },
      options: options({
        scales: { x: { title: { display: true, text: 'depth' }, ticks: { stepSize: 1 } }, y: { reverse: true, display: false } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) { return ctx.raw.key + ' (' + ctx.raw.state + ')'; } } } },
      }),
      plugins: [edgePlugin],
    });
    connect(config, function (update) {
      var graph = update.graph;
      if (!graph) return;
      if (graph.tooLarge !== undefined) {
        note.textContent = graph.tooLarge + ' tasks: more than the ' + graph.max + ' this page draws.';
        chart.data.datasets[0].data = [];
        edges = [];
      } else {
        note.textContent = graph.nodes.length + ' tasks, ' + graph.edges.length + ' dependencies.';
        chart.data.datasets[0].data = graph.nodes.map(function (n) { return { x: n.x, y: n.y, key: n.key, state: n.state }; });
        chart.data.datasets[0].backgroundColor = graph.nodes.map(function (n) { return STATE_COLORS[n.state] || '#999'; });
        edges = graph.edges;
      }
      state.graphNodes = chart.data.datasets[0].data.length;
      chart.update('none');
    });
  }

  /* ------------------------------------------------------------ info */

  function startInfo(config) {
    document.getElementById('info-address').textContent = config.worker || '';
    var table = document.querySelector('#info-table tbody');
    var processing = document.getElementById('info-processing');
    var keys = document.querySelector('#info-keys tbody');
    var keysTotal = document.getElementById('info-keys-total');
    var stream = document.querySelector('#info-stream tbody');
    var recent = [];
    connect(config, function (update) {
      var info = update.info;
      if (!info) {
        replaceChildren(table, [row(['this worker is not (or no longer) connected'])]);
        return;
      }
      var w = info.worker, m = w.metrics || null;
      var fields = [['name', w.name], ['address', w.address], ['status', w.status], ['threads', w.nthreads], ['pid', w.pid || '—'],
        ['CPU %', m ? m.cpu.toFixed(1) : '—'], ['memory (RSS)', m ? bytes(m.rss) : '—'], ['managed', bytes(m ? m.managedBytes : w.nbytes)],
        ['limit', w.memoryLimit > 0 ? bytes(w.memoryLimit) : '—'], ['busy threads', m ? m.busyThreads : '—'],
        ['transfers in', m ? m.transfersIn + ' (' + bytes(m.transferBytesIn) + ')' : '—'], ['transfers out', m ? m.transfersOut + ' (' + bytes(m.transferBytesOut) + ')' : '—']];
      if (info.resources) fields.push(['resources', JSON.stringify(info.resources) + ' (in use ' + JSON.stringify(info.usedResources || {}) + ')']);
      replaceChildren(table, fields.map(function (f) { return row(f); }));
      replaceChildren(processing, info.processing.map(function (k) { return el('li', k); }));
      keysTotal.textContent = '(' + info.keysTotal + ')';
      replaceChildren(keys, info.keys.map(function (k) { return row([k.key, bytes(k.nbytes)], [0, 1]); }));
      var fresh = update.stream || [];
      for (var i = 0; i < fresh.length; i++) recent.push(fresh[i]);
      if (recent.length > 50) recent.splice(0, recent.length - 50);
      replaceChildren(stream, recent.slice().reverse().map(function (r) {
        var s = r.startstops[0];
        return row([r.key, r.thread === null ? '—' : r.thread, s.action, (s.stop - s.start).toFixed(1), r.status], [0, 0, 0, 1, 0]);
      }));
    });
  }

  window.DashboardApp = {
    start: function (config) {
      state.page = config.page;
      var starters = { status: startStatus, workers: startWorkers, graph: startGraph, info: startInfo };
      starters[config.page](config);
    },
    prefixColor: prefixColor,
  };
})();
`;
