// Model router dashboard. Plain browser JavaScript, no build step, no dependencies.
//
// Live data: GET /models/sse read with fetch() as a stream (not EventSource), so the API key
// travels in the Authorization header, never in a URL. The key is asked for once, on the
// first 401, and kept in sessionStorage (this tab only). Every `snapshot` event carries the
// whole picture (models as GET /models shows them, plus device readings); the other events
// (status_change, load, ready, eviction, unload, failure) feed the event list. GET /history (the
// router's small in-memory history) feeds the Activity charts: tokens per second and latency per
// model, with loads and evictions on the same time axis.
'use strict';

const KEY_STORAGE = 'model-router.api-key';
const COLORS = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#db2777', '#65a30d', '#ca8a04', '#4f46e5', '#0d9488'];
const MAX_EVENTS = 100;
/** The charts' time span, and how often they are refreshed without a snapshot to prompt it. */
const CHART_SPAN_MS = 10 * 60_000;
const HISTORY_POLL_MS = 5000;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const state = { snapshot: null, history: null, colors: new Map(), cards: new Map(), busy: new Map(), openLogs: new Set(), retryMs: 1000 };

// ---------- small helpers ----------

/** Create an element; attributes starting with "on" are listeners; children may be strings. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Styles through CSSOM, which the page's Content-Security-Policy allows (style attributes it does not).
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function bytes(n) {
  if (n === undefined || n === null || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const digits = v >= 100 || i === 0 ? 0 : v >= 10 ? 1 : 2;
  return `${(Math.sign(n) * v).toFixed(digits)} ${units[i]}`;
}

function ago(ms) {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

/** A log line starts with its UTC time (ISO 8601): shown as this browser's clock time. */
function localTime(line) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /.exec(line);
  const t = m ? Date.parse(m[1]) : NaN;
  return Number.isFinite(t) ? `${clock(t)} ${line.slice(m[0].length)}` : line;
}

function colorOf(name) {
  if (!state.colors.has(name)) state.colors.set(name, COLORS[state.colors.size % COLORS.length]);
  return state.colors.get(name);
}

/** A model's state as the dashboard shows it: llama-server's value, or failed. */
function stateOf(m) {
  return m.status && m.status.failed ? 'failed' : (m.status && m.status.value) || 'unknown';
}

/** Models that hold (or are about to hold) memory. */
function resident(m) {
  const s = stateOf(m);
  return s === 'loaded' || s === 'loading' || s === 'unloading';
}

function toast(text, isError) {
  const t = $('toast');
  t.textContent = text;
  t.className = isError ? 'toast error' : 'toast';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), isError ? 7000 : 3500);
}

// ---------- API ----------

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  if (res.status === 401) {
    askForKey('The API key was refused. Enter it again.');
    throw new Error('API key required');
  }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
  return data;
}

// ---------- live stream ----------

let stream;

async function connect() {
  if (stream) stream.abort();
  const ac = new AbortController();
  stream = ac;
  setConn('connecting');
  try {
    const res = await fetch('/models/sse', { headers: { ...authHeaders(), Accept: 'text/event-stream' }, signal: ac.signal, cache: 'no-store' });
    if (res.status === 401) {
      setConn('offline', 'needs API key');
      askForKey(sessionStorage.getItem(KEY_STORAGE) ? 'The API key was refused. Enter it again.' : undefined);
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    setConn('live');
    state.retryMs = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + (buf[cut] === '\r' ? 4 : 2));
        dispatch(block);
      }
    }
    throw new Error('stream ended');
  } catch (err) {
    if (ac.signal.aborted) return;
    setConn('offline', 'reconnecting');
    setTimeout(() => stream === ac && connect(), state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 10000);
  }
}

function dispatch(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let payload;
  try { payload = JSON.parse(data.join('\n')); } catch { return; }
  if (event === 'snapshot') {
    state.snapshot = payload;
    render();
    refreshHistorySoon();
  } else {
    addEvent(event, payload);
  }
}

function setConn(s, text) {
  const el = $('conn');
  el.dataset.state = s;
  el.textContent = text || s;
}

// ---------- API key ----------

function askForKey(message) {
  if (message) $('key-message').textContent = message;
  $('key-form').hidden = false;
  $('key-input').focus();
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('key-input').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('key-input').value = '';
  $('key-form').hidden = true;
  $('forget-key').hidden = false;
  connect();
});

$('forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  $('forget-key').hidden = true;
  if (stream) stream.abort();
  setConn('offline', 'needs API key');
  askForKey('Key forgotten. Enter an API key to reconnect.');
});

// ---------- rendering ----------

function render() {
  const snap = state.snapshot;
  if (!snap) return;
  // Colours by the models' order, so a model keeps its colour across reloads.
  for (const m of snap.data) colorOf(m.id);
  renderTotals(snap);
  renderDevices(snap);
  renderModels(snap);
}

function renderTotals(snap) {
  const models = snap.data;
  const loaded = models.filter((m) => stateOf(m) === 'loaded').length;
  const inFlight = models.reduce((n, m) => n + (m.in_flight || 0), 0);
  const queued = models.reduce((n, m) => n + (m.queued || 0), 0);
  $('totals').replaceChildren(
    h('span', {}, h('b', {}, `${loaded}`), ` of ${models.length} loaded`),
    h('span', {}, h('b', {}, `${inFlight}`), ' in flight'),
    h('span', {}, h('b', {}, `${queued}`), ' queued'),
  );
}

/** Device rows: readings when the router has them, else the models' own figures. */
function deviceRows(snap) {
  const readings = (snap.devices && snap.devices.data) || [];
  const margin = snap.devices ? snap.devices.memory_margin : null;
  const names = new Set(readings.map((d) => d.name));
  for (const m of snap.data) for (const d of Object.keys((m.memory && m.memory.devices) || {})) names.add(d);
  return [...names].sort(deviceOrder).map((name) => {
    const reading = readings.find((d) => d.name === name);
    const parts = snap.data
      .filter((m) => resident(m) && m.memory && m.memory.devices && m.memory.devices[name] > 0)
      .map((m) => ({ model: m.id, bytes: m.memory.devices[name], source: m.memory.source, pending: stateOf(m) === 'loading' }));
    return { name, label: reading && reading.label, reading, margin, parts };
  });
}

function deviceOrder(a, b) {
  // GPUs first, CPU last: the scarce memory is the interesting one.
  const cpu = (n) => (n === 'CPU' ? 1 : 0);
  return cpu(a) - cpu(b) || a.localeCompare(b, undefined, { numeric: true });
}

function renderDevices(snap) {
  const rows = deviceRows(snap);
  const box = $('devices');
  if (!rows.length) {
    box.replaceChildren(h('div', { class: 'card empty' }, 'No memory figures yet: they appear when the router reads its devices or a model reports what it needs.'));
    return;
  }
  box.replaceChildren(...rows.map(deviceCard));
}

function deviceCard(row) {
  const used = row.parts.reduce((n, p) => n + p.bytes, 0);
  const legend = [];
  const segs = [];
  let total;
  let figures;
  for (const p of row.parts) {
    segs.push({ cls: `seg model${p.pending ? ' pending' : ''}`, bytes: p.bytes, color: colorOf(p.model), model: p.model, title: `${p.model}: ${bytes(p.bytes)} (${p.source}${p.pending ? ', loading' : ''})` });
    legend.push(h('li', {}, h('span', { class: 'swatch', style: { background: colorOf(p.model) } }), `${p.model} `, h('b', {}, bytes(p.bytes))));
  }
  if (row.reading) {
    const r = row.reading;
    total = r.total;
    const other = Math.max(0, r.total - r.free - used);
    const margin = Math.min(row.margin || 0, r.free);
    const free = Math.max(0, r.free - margin);
    segs.push({ cls: 'seg other', bytes: other, title: `other processes: ${bytes(other)}` });
    segs.push({ cls: 'seg free', bytes: free, title: `free: ${bytes(r.free)}` });
    if (margin > 0) segs.push({ cls: 'seg margin', bytes: margin, title: `margin kept free: ${bytes(margin)}` });
    legend.push(h('li', { title: 'used by everything but the models' }, h('span', { class: 'swatch other' }), 'other processes ', h('b', {}, bytes(other))));
    legend.push(h('li', {}, h('span', { class: 'swatch free' }), 'free ', h('b', {}, bytes(r.free))));
    if (row.margin) legend.push(h('li', {}, h('span', { class: 'swatch margin' }), 'margin ', h('b', {}, bytes(row.margin))));
    figures = `${bytes(r.total - r.free)} used of ${bytes(r.total)}`;
  } else {
    total = used;
    figures = used ? `models: ${bytes(used)} (no device reading)` : 'no device reading';
  }
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': `${row.name}: ${figures}` },
    segs.filter((s) => s.bytes > 0 && total > 0).map((s) =>
      h('div', { class: s.cls, 'data-model': s.model, title: s.title, style: { flex: `0 0 ${(100 * s.bytes) / total}%`, ...(s.color ? { 'background-color': s.color } : {}) } })));
  // Small models on a big device are slivers: a second bar shows the models' shares alone.
  const zoom = row.reading && used > 0 && used / total < 0.15
    ? h('div', { class: 'zoom' },
      h('span', { class: 'zoom-label' }, `models: ${bytes(used)}`),
      h('div', { class: 'bar thin', role: 'img', 'aria-label': `models' shares of ${bytes(used)}` },
        row.parts.map((p) => h('div', { class: `seg model${p.pending ? ' pending' : ''}`, 'data-model': p.model, title: `${p.model}: ${bytes(p.bytes)}`, style: { flex: `0 0 ${(100 * p.bytes) / used}%`, 'background-color': colorOf(p.model) } }))))
    : '';
  return h('article', { class: 'card device', 'data-device': row.name },
    h('div', { class: 'device-head' }, h('h3', {}, row.name, row.label ? h('span', { class: 'muted' }, ` · ${row.label}`) : ''), h('span', { class: 'figures' }, figures)),
    bar,
    zoom,
    h('ul', { class: 'legend' }, legend.length ? legend : h('li', {}, 'no model holds memory here')));
}

function renderModels(snap) {
  const box = $('models');
  const seen = new Set();
  for (const m of snap.data) {
    seen.add(m.id);
    let card = state.cards.get(m.id);
    if (!card) {
      card = modelCard(m.id);
      state.cards.set(m.id, card);
    }
    updateCard(card, m, snap);
  }
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) { card.root.remove(); state.cards.delete(id); }
  }
  const order = snap.data.map((m) => state.cards.get(m.id).root);
  if (order.some((el, i) => box.children[i] !== el)) box.replaceChildren(...order);
}

function modelCard(id) {
  const c = {};
  c.name = h('h3', {}, id);
  c.state = h('span', { class: 'state' });
  c.chips = h('div', { class: 'chips' });
  c.inFlight = h('dd');
  c.queued = h('dd');
  c.lastUsed = h('dd');
  c.mem = h('div', { class: 'mem' });
  c.note = h('div', { class: 'note', hidden: true });
  c.load = h('button', { type: 'button', class: 'load', onclick: () => act('load', id) }, 'Load');
  c.unload = h('button', { type: 'button', class: 'unload danger', onclick: () => act('unload', id) }, 'Unload');
  c.logsBtn = h('button', { type: 'button', class: 'ghost small logs-toggle', onclick: () => toggleLogs(id) }, 'Logs');
  c.logs = h('pre', { class: 'logs', hidden: true });
  c.root = h('article', { class: 'card model', 'data-model': id, style: { '--swatch': colorOf(id) } },
    h('div', { class: 'model-head' }, c.name, c.state),
    c.chips,
    h('dl', { class: 'stats' },
      h('div', {}, h('dt', {}, 'in flight'), c.inFlight),
      h('div', {}, h('dt', {}, 'queued'), c.queued),
      h('div', {}, h('dt', {}, 'last used'), c.lastUsed)),
    c.mem,
    c.note,
    h('div', { class: 'actions' }, c.load, c.unload, h('span', { class: 'spacer' }), c.logsBtn),
    c.logs);
  return c;
}

function updateCard(c, m, snap) {
  const s = stateOf(m);
  c.root.dataset.state = s;
  c.state.dataset.state = s;
  c.state.textContent = s;
  const chips = [];
  for (const a of m.aliases || []) chips.push(h('span', { class: 'chip alias', title: `alias: requests for ${a} go to ${m.id}` }, a));
  if (m.pin) chips.push(h('span', { class: 'chip' }, 'pinned'));
  if (m.priority) chips.push(h('span', { class: 'chip' }, `priority ${m.priority}`));
  if (m.exclusive_group) chips.push(h('span', { class: 'chip' }, `group ${m.exclusive_group}`));
  c.chips.replaceChildren(...chips);
  c.chips.hidden = chips.length === 0;
  c.inFlight.textContent = String(m.in_flight || 0);
  c.queued.textContent = String(m.queued || 0);
  // last_used is when a request last finished: while one is running the model is in use now, not "never".
  c.lastUsed.textContent = m.in_flight > 0 ? 'now' : ago(m.last_used);
  c.lastUsed.title = m.last_used ? `last finished ${new Date(m.last_used).toLocaleString()}` : '';

  const readings = (snap.devices && snap.devices.data) || [];
  const devices = Object.entries((m.memory && m.memory.devices) || {}).sort((a, b) => deviceOrder(a[0], b[0]));
  if (!devices.length) {
    c.mem.replaceChildren(h('span', { class: 'source' }, 'memory: not known yet'));
  } else {
    // Bars compare models with each other (the largest figure on the device is full width);
    // the share of the device itself is given in words, as it is often a sliver.
    const largest = (dev) => Math.max(...snap.data.map((x) => (x.memory && x.memory.devices && x.memory.devices[dev]) || 0));
    const share = (dev, b) => {
      const r = readings.find((d) => d.name === dev);
      if (!r || !r.total) return '';
      const pct = (100 * b) / r.total;
      return ` · ${pct < 1 ? pct.toFixed(1) : Math.round(pct)}% of ${dev}`;
    };
    const held = resident(m);
    c.mem.replaceChildren(
      ...devices.map(([dev, b]) =>
        h('div', { class: 'mem-row', 'data-device': dev },
          h('span', { class: 'name' }, dev),
          h('div', { class: `mem-bar${held ? '' : ' estimate'}`, title: `${bytes(b)}${share(dev, b)}` },
            h('span', { style: { width: `${Math.max(2, Math.min(100, (100 * b) / (largest(dev) || b)))}%` } })),
          h('span', { class: 'value', title: share(dev, b).slice(3) }, bytes(b)))),
      h('span', { class: 'source' }, `${held ? 'uses' : 'needs'} · ${m.memory.source}${devices.length === 1 ? share(devices[0][0], devices[0][1]) : ''}`));
  }

  let note = '';
  let error = false;
  if (m.waiting_for) note = `waiting for ${m.waiting_for}`;
  if (s === 'failed') {
    error = true;
    note = m.status.error || `failed (exit code ${m.status.exit_code ?? '?'})`;
  }
  c.note.textContent = note;
  c.note.className = error ? 'note error' : 'note';
  c.note.hidden = !note;

  const busy = state.busy.get(m.id);
  c.load.disabled = Boolean(busy) || s === 'loaded' || s === 'loading';
  c.load.textContent = busy === 'load' || s === 'loading' ? 'Loading…' : 'Load';
  c.unload.disabled = Boolean(busy) || s === 'unloaded' || s === 'failed' || s === 'unloading';
  c.unload.textContent = busy === 'unload' || s === 'unloading' ? 'Unloading…' : 'Unload';
}

async function act(action, model) {
  state.busy.set(model, action);
  render();
  const started = performance.now();
  try {
    await api('POST', `/models/${action}`, { model });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    toast(`${model} ${action === 'load' ? 'loaded' : 'unloaded'} in ${secs} s`);
  } catch (err) {
    toast(`${action} ${model}: ${err.message}`, true);
  } finally {
    state.busy.delete(model);
    render();
  }
}

async function toggleLogs(model) {
  const c = state.cards.get(model);
  if (!c) return;
  if (state.openLogs.has(model)) {
    state.openLogs.delete(model);
    c.logs.hidden = true;
    c.logsBtn.textContent = 'Logs';
    return;
  }
  state.openLogs.add(model);
  c.logsBtn.textContent = 'Hide logs';
  c.logs.hidden = false;
  c.logs.textContent = 'loading…';
  try {
    const data = await api('GET', `/logs/${encodeURIComponent(model)}?format=json&n=200`);
    c.logs.textContent = data.lines.length ? data.lines.map(localTime).join('\n') : '(no output yet)';
    c.logs.scrollTop = c.logs.scrollHeight;
  } catch (err) {
    c.logs.textContent = `could not read logs: ${err.message}`;
  }
}

// ---------- activity charts ----------

let historyTimer;
let historyPending = false;

/** A snapshot means something happened: refresh the charts shortly (at most once a second). */
function refreshHistorySoon() {
  if (historyPending) return;
  historyPending = true;
  setTimeout(() => { historyPending = false; loadHistory(); }, 1000);
}

let historyLoading = false;

async function loadHistory() {
  if (historyLoading) return;
  historyLoading = true;
  try {
    state.history = await api('GET', '/history');
    renderCharts();
  } catch {
    // The stream shows the connection state; the charts just keep their last picture.
  } finally {
    historyLoading = false;
    // One timer at a time, whichever call (poll or snapshot) came last.
    clearTimeout(historyTimer);
    historyTimer = setTimeout(loadHistory, HISTORY_POLL_MS);
  }
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

const CHARTS = [
  { id: 'tps', title: 'Tokens per second', unit: 'tok/s', value: (p) => p.tokens_per_second, zeroWhenIdle: true },
  // Dashed: the mean time to the first byte (a stream's first token), queue and load included.
  { id: 'latency', title: 'Latency (mean request duration)', unit: 'ms', value: (p) => p.latency_ms, dashed: (p) => p.ttfb_ms, zeroWhenIdle: false },
];

function renderCharts() {
  const hist = state.history;
  const box = $('charts');
  if (!hist) return;
  if (!box.children.length) {
    for (const def of CHARTS) {
      box.append(h('article', { class: 'card chart', 'data-chart': def.id },
        h('div', { class: 'chart-head' }, h('h3', {}, def.title), h('span', { class: 'figures' })),
        h('div', { class: 'plot' }),
        h('div', { class: 'axis' }, h('span', {}, '−10 min'), h('span', {}, '−5 min'), h('span', {}, 'now')),
        h('ul', { class: 'legend' })));
    }
  }
  for (const def of CHARTS) drawChart(box.querySelector(`[data-chart="${def.id}"]`), def, hist);
}

/** One chart: a line per model over the last CHART_SPAN_MS, load/evict/unload/failure as vertical marks. */
function drawChart(card, def, hist) {
  const plot = card.querySelector('.plot');
  const width = Math.max(200, Math.round(plot.clientWidth || 400));
  const height = 150;
  const pad = 4;
  const end = hist.now;
  const start = end - CHART_SPAN_MS;
  const x = (t) => pad + ((t - start) / CHART_SPAN_MS) * (width - 2 * pad);
  const pick = (points, value) => points.filter((p) => p.t + hist.bucket_ms > start).map((p) => ({ t: p.t + hist.bucket_ms / 2, v: value(p) })).filter((p) => p.v !== null);
  const series = Object.entries(hist.models).map(([model, points]) => ({
    model,
    points: pick(points, def.value),
    dashed: def.dashed ? pick(points, def.dashed) : [],
  }));
  const max = Math.max(0, ...series.flatMap((s) => [...s.points, ...s.dashed].map((p) => p.v)));
  const top = max > 0 ? niceCeil(max) : 1;
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  const pathOf = (points) => {
    let d = '';
    let prev;
    for (const p of points) {
      // tokens/s: a bucket without requests produced nothing (0); latency: no request, no figure (a gap).
      const gap = prev !== undefined && p.t - prev.t > hist.bucket_ms * 1.5;
      if (gap && def.zeroWhenIdle) d += `L${x(prev.t + hist.bucket_ms).toFixed(1)},${y(0).toFixed(1)}L${x(p.t - hist.bucket_ms).toFixed(1)},${y(0).toFixed(1)}`;
      d += `${!prev || (gap && !def.zeroWhenIdle) ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      prev = p;
    }
    return d;
  };
  const lines = series.map((s) => {
    const d = pathOf(s.points);
    const dashed = s.dashed.length ? pathOf(s.dashed) : '';
    const dots = s.points.length <= 40 ? s.points.map((p) => svg('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.2, fill: colorOf(s.model) }, svg('title', {}, `${s.model} ${clock(p.t)}: ${fmt(p.v)} ${def.unit}`))) : [];
    return svg('g', { 'data-model': s.model },
      d ? svg('path', { d, class: 'line', stroke: colorOf(s.model), 'data-model': s.model }) : null,
      dashed ? svg('path', { d: dashed, class: 'line dashed', stroke: colorOf(s.model), 'data-model': s.model }) : null,
      dots);
  });
  const marks = hist.events.filter((e) => e.at >= start && ['load', 'eviction', 'unload', 'failure'].includes(e.type)).map((e) =>
    svg('line', { class: 'event', 'data-type': e.type, 'data-model': e.model, x1: x(e.at).toFixed(1), x2: x(e.at).toFixed(1), y1: 0, y2: height },
      svg('title', {}, `${clock(e.at)} ${e.type} ${e.model}${e.reason ? ` (${e.reason})` : ''}`)));
  const grid = [0, 0.5, 1].map((f) => svg('line', { class: 'grid', x1: 0, x2: width, y1: y(top * f).toFixed(1), y2: y(top * f).toFixed(1) }));
  const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${def.title}, last 10 minutes` },
    grid, marks, lines, svg('text', { x: pad + 2, y: 12, class: 'scale' }, `${fmt(top)} ${def.unit}`));
  plot.replaceChildren(chart);
  const latest = series.map((s) => s.points.at(-1)).filter(Boolean);
  card.querySelector('.figures').textContent = series.length ? `peak ${fmt(max)} ${def.unit}` : 'no requests yet';
  card.querySelector('.legend').replaceChildren(
    ...series.map((s) => h('li', { 'data-model': s.model }, h('span', { class: 'swatch', style: { background: colorOf(s.model) } }), `${s.model} `,
      h('b', {}, s.points.length ? `${fmt(s.points.at(-1).v)} ${def.unit}` : '–'))),
    ...(def.dashed && series.length ? [h('li', {}, h('span', { class: 'swatch dash' }), 'first byte')] : []),
    ...(marks.length ? [h('li', {}, h('span', { class: 'swatch mark-load' }), 'load'), h('li', {}, h('span', { class: 'swatch mark-evict' }), 'evict / unload')] : []),
    ...(series.length || latest.length ? [] : [h('li', {}, 'Charts fill in as requests are answered.')]));
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (v >= 100) return String(Math.round(v));
  if (v >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/\.?0+$/, '') || '0';
}

// ---------- events ----------

function addEvent(type, e) {
  const list = $('events');
  const placeholder = list.querySelector('.empty');
  if (placeholder) placeholder.remove();
  let what = e.model;
  if (type === 'status_change') what += `: ${e.from} → ${e.to}`;
  if (e.reason) what += ` (${e.reason})`;
  if (type === 'ready' && e.detail) what += ` in ${e.detail}`;
  if (type === 'failure' && e.detail) what += `: ${e.detail}`;
  list.prepend(h('li', { 'data-type': type },
    h('time', { datetime: new Date(e.at || Date.now()).toISOString() }, clock(e.at || Date.now())),
    h('span', { class: 'type', 'data-type': type }, type.replace('_', ' ')),
    h('span', { class: 'what' }, what)));
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// ---------- start ----------

$('events').append(h('li', { class: 'empty' }, 'Nothing has happened since this page opened.'));
if (sessionStorage.getItem(KEY_STORAGE)) $('forget-key').hidden = false;
// "last used" ages without events.
setInterval(() => state.snapshot && renderModels(state.snapshot), 10000);
// The charts are drawn at the plot's width in pixels: redraw when it changes.
let resizeTimer;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderCharts, 150); });
connect();
