// Ferry's status page: polls /-/dashboard/data for the samples it has not
// seen, keeps the last window of each deployment's series, and draws them
// with uPlot. Runs in the browser as is (no build step).
'use strict';

(() => {
  const WINDOW = 300;
  const CHARTS = [
    { key: 'replicas', title: 'Replicas', series: [['ready', 'ready', '#2e8540'], ['starting', 'starting', '#d08c00'], ['draining', 'draining', '#6f42c1'], ['pending', 'pending', '#8a8a8a']], stat: (l) => `${l.ready ?? 0} ready` },
    { key: 'queue', title: 'Queue and in flight', series: [['queue', 'queued', '#c0392b'], ['ongoing', 'in flight', '#1f6feb']], stat: (l) => `queued ${l.queue ?? 0} · in flight ${l.ongoing ?? 0}` },
    { key: 'rate', title: 'Requests/s', series: [['rate', 'req/s', '#1f6feb']], stat: (l) => fixed(l.rate, 1) },
    { key: 'latency', title: 'Latency (ms)', series: [['p50Ms', 'p50', '#2e8540'], ['p99Ms', 'p99', '#c0392b']], stat: (l) => `p50 ${fixed(l.p50Ms, 1)} · p99 ${fixed(l.p99Ms, 1)}` },
    { key: 'errors', title: 'Error ratio (5xx, %)', series: [['errorRatio', '5xx %', '#c0392b', 100]], stat: (l) => (l.errorRatio == null ? '–' : `${fixed(l.errorRatio * 100, 1)} %`) },
    { key: 'batch', title: 'Batch size (rows)', series: [['batchRows', 'rows', '#6f42c1']], stat: (l) => fixed(l.batchRows, 1) },
  ];
  const SERIES = ['rate', 'errorRatio', 'p50Ms', 'p99Ms', 'batchRows', 'queue', 'ongoing', 'ready', 'starting', 'draining', 'pending'];

  const state = { seq: 0, series: new Map(), panels: new Map(), intervalMs: 2000 };
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  function fixed(v, digits) {
    return v == null ? '–' : Number(v).toFixed(digits);
  }
  // Axis numbers as 1.2K, 15K: a narrow chart's axis has room for four characters.
  const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  // A value with no neighbour (one request in a quiet minute) has no line to be part of: it is drawn as a dot.
  const lonely = (u, s, show) => {
    if (show) return null;
    const ys = u.data[s];
    const idxs = [];
    for (let i = 0; i < ys.length; i++) if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) idxs.push(i);
    return idxs.length ? idxs : null;
  };

  function append(name, fresh) {
    let s = state.series.get(name);
    if (!s) state.series.set(name, (s = Object.fromEntries(['t', ...SERIES].map((k) => [k, []]))));
    for (const k of ['t', ...SERIES]) {
      s[k].push(...fresh[k]);
      if (s[k].length > WINDOW) s[k].splice(0, s[k].length - WINDOW);
    }
  }

  function panelFor(d) {
    let p = state.panels.get(d.name);
    if (p) return p;
    const root = el('article', { class: 'deployment', 'data-deployment': d.name });
    const head = el('div');
    head.append(el('h2', {}, d.name), el('span', { class: 'badge', 'data-field': 'readiness' }));
    const summary = el('div', { class: 'summary' });
    for (const [field, label] of [['target', 'target'], ['ready', 'ready'], ['starting', 'starting'], ['draining', 'draining'], ['pending', 'pending'], ['queueDepth', 'queued'], ['ongoing', 'in flight'], ['restarts', 'restarts'], ['bounds', 'autoscaling']]) {
      const item = el('span', {}, `${label} `);
      item.append(el('b', { 'data-field': field }));
      summary.append(item);
    }
    const legend = el('div', { class: 'legend muted' });
    // Classes, not style attributes: the page's Content-Security-Policy allows no inline style.
    for (const st of ['ready', 'starting', 'draining', 'pending']) legend.append(el('span', { class: st }, st));
    const cells = el('div', { class: 'cells', 'data-field': 'cells', role: 'list', 'aria-label': 'replicas' });
    const charts = el('div', { class: 'charts' });
    const plots = CHARTS.map((c) => {
      const box = el('div', { class: 'chart', 'data-chart': c.key });
      const h = el('h3', {}, c.title);
      h.append(el('span', { 'data-stat': c.key }, '–'));
      const area = el('div');
      box.append(h, area);
      charts.append(box);
      return { spec: c, area, stat: $('span', h), plot: null };
    });
    const decisions = el('details', { 'data-field': 'decisions' });
    decisions.append(el('summary', {}, 'Autoscaler decisions'), el('ol', { class: 'decisions' }));
    root.append(head, summary, legend, cells, charts, decisions);
    $('#deployments').append(root);
    p = { root, plots, cellsKey: '' };
    state.panels.set(d.name, p);
    return p;
  }

  function draw(p, name) {
    const s = state.series.get(name);
    if (!s || typeof uPlot === 'undefined') return;
    const last = Object.fromEntries(SERIES.map((k) => [k, s[k].length ? s[k][s[k].length - 1] : null]));
    for (const plot of p.plots) {
      plot.stat.textContent = plot.spec.stat(last);
      const data = [s.t.map((t) => t / 1000), ...plot.spec.series.map(([k, , , scale]) => s[k].map((v) => (v == null ? null : scale ? v * scale : v)))];
      const width = Math.max(200, plot.area.clientWidth || 260);
      if (!plot.plot) {
        plot.plot = new uPlot(
          {
            width,
            height: 110,
            legend: { show: false },
            cursor: { show: true, points: { show: false } },
            scales: { y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
            axes: [{ size: 24, font: '10px system-ui' }, { size: 44, font: '10px system-ui', values: (_u, splits) => splits.map((v) => compact.format(v)) }],
            series: [{}, ...plot.spec.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: false, points: { size: 5, fill: stroke, filter: lonely } }))],
          },
          data,
          plot.area,
        );
      } else {
        if (Math.abs(plot.plot.width - width) > 4) plot.plot.setSize({ width, height: 110 });
        plot.plot.setData(data);
      }
    }
  }

  function show(p, d) {
    const set = (field, v) => {
      $(`[data-field="${field}"]`, p.root).textContent = String(v);
    };
    const badge = $('[data-field="readiness"]', p.root);
    badge.textContent = d.ready ? 'ready' : `not ready: ${d.reason}`;
    badge.classList.toggle('not-ready', !d.ready);
    set('target', d.target);
    for (const k of ['ready', 'starting', 'draining', 'pending']) set(k, d.counts[k]);
    set('queueDepth', d.queueDepth);
    set('ongoing', d.ongoing);
    set('restarts', d.restarts);
    set('bounds', d.autoscaling ? `${d.autoscaling.minReplicas}–${d.autoscaling.maxReplicas}` : 'off');
    // Hundreds of replicas: one small square each, rebuilt only when something changed.
    const key = d.replicas.map((r) => r.join(':')).join('|');
    if (key !== p.cellsKey) {
      p.cellsKey = key;
      const cells = $('[data-field="cells"]', p.root);
      const squares = d.replicas.map(([id, st, ongoing, node]) => el('span', { class: `cell ${st}${ongoing > 0 ? ' busy' : ''}`, role: 'listitem', title: `${id} · ${st} · ${ongoing} in flight${node ? ` · ${node}` : ''}` }));
      for (let i = 0; i < d.counts.pending; i++) squares.push(el('span', { class: 'cell pending', role: 'listitem', title: 'pending: fits on no node yet' }));
      cells.replaceChildren(...squares);
    }
    const list = $('.decisions', p.root);
    list.replaceChildren(
      ...(d.decisions.length
        ? d.decisions.map((x) => el('li', {}, `${new Date(x.at).toLocaleTimeString()} ${x.from} → ${x.to} (${x.direction}): ${x.reason}`))
        : [el('li', { class: 'muted' }, d.autoscaling ? 'no change yet' : 'not autoscaled')]),
    );
  }

  function showNodes(nodes) {
    const rows = nodes.map((n) => {
      const tr = el('tr');
      const cells = [n.id, n.address || '–', n.cpus, n.gpus, n.usedCpus ?? '–', n.replicas, n.beatAgoMs == null ? '–' : `${(n.beatAgoMs / 1000).toFixed(1)} s ago`, n.unreachable ? `unreachable: ${n.unreachable}` : ''];
      for (const c of cells) tr.append(el('td', {}, String(c)));
      return tr;
    });
    $('#nodes tbody').replaceChildren(...rows);
  }

  async function poll() {
    try {
      const res = await fetch(`dashboard/data?since=${state.seq}`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (res.status === 401 || res.status === 403) throw new Error('this page needs an admin API key: reload it and sign in with the key as the password');
      if (!res.ok) throw new Error(`status ${res.status} from ${res.url}`);
      const data = await res.json();
      state.seq = data.seq;
      state.intervalMs = data.intervalMs;
      for (const [name, fresh] of Object.entries(data.series)) append(name, fresh);
      const names = new Set(data.deployments.map((d) => d.name));
      for (const [name, p] of state.panels) {
        if (!names.has(name)) {
          p.root.remove();
          state.panels.delete(name);
          state.series.delete(name);
        }
      }
      for (const d of data.deployments) {
        const p = panelFor(d);
        show(p, d);
        draw(p, d.name);
      }
      showNodes(data.nodes);
      $('#version').textContent = `v${data.version}`;
      $('#updated').textContent = `updated ${new Date(data.at).toLocaleTimeString()}`;
      $('#problem').textContent = '';
      document.body.dataset.seq = String(data.seq);
    } catch (err) {
      $('#problem').textContent = err.message;
    } finally {
      setTimeout(poll, document.hidden ? state.intervalMs * 5 : state.intervalMs);
    }
  }

  poll();
})();
