// runlet's web UI: hash-routed pages over the Kubernetes API, forwarded under /ui/api/k8s for a signed-in
// browser. Plain JavaScript, no build step; everything is drawn with DOM calls (never innerHTML with data).
import { TimelineView } from './timeline.js';

const API = '/ui/api/k8s';
const main = document.getElementById('main');

// What the current page started (watches, timers); aborted when the page changes.
let page = new AbortController();

// ---- small helpers -------------------------------------------------------------------------------------

/** An element with attributes (on* are listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the page's CSP forbids style attributes.
    else if (k === 'style') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function sleep(ms, signal) {
  return new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** Calls the API; JSON in and out. Anything but GET carries the UI's header. 401 goes to the login form. */
async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const method = opts.method || 'GET';
  if (method !== 'GET') headers['X-Runlet-UI'] = '1';
  let body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = opts.contentType || 'application/json';
  }
  const r = await fetch(API + path, { method, headers, body, signal: opts.signal, credentials: 'same-origin' });
  if (r.status === 401) {
    location.href = '/ui/login';
    throw new Error('signed out');
  }
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && data.message) || `${r.status} ${r.statusText}`);
  return data;
}

/** Hands each line of a streaming response to onLine until the stream ends. */
async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
  }
  if (buffer) onLine(buffer);
}

const live = document.getElementById('live');
let watching = 0;
function setLive(delta) {
  watching += delta;
  live.classList.toggle('on', watching > 0);
}

/**
 * Lists `path` and watches it from the list's resourceVersion, keeping a Map uid → object; onChange runs
 * (at most every 100 ms) after changes. A watch that ends or fails lists again. Stops with the page.
 */
function informer(path, query, onChange, signal = page.signal) {
  const items = new Map();
  const q = query ? `${query}&` : '';
  let scheduled = false;
  const changed = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => { scheduled = false; if (!signal.aborted) onChange(items); }, 100);
  };
  (async () => {
    while (!signal.aborted) {
      let counted = false;
      try {
        const list = await api(`${path}?${query || ''}`, { signal });
        items.clear();
        for (const o of list.items) items.set(o.metadata.uid, o);
        changed();
        const rv = list.metadata.resourceVersion;
        const r = await fetch(`${API}${path}?${q}watch=true&resourceVersion=${rv}`, { signal, credentials: 'same-origin' });
        if (r.status === 401) { location.href = '/ui/login'; return; }
        if (!r.ok) throw new Error(r.statusText);
        setLive(1); counted = true;
        let expired = false;
        await readLines(r, line => {
          if (!line.trim() || expired) return;
          const ev = JSON.parse(line);
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') items.set(ev.object.metadata.uid, ev.object);
          else if (ev.type === 'DELETED') items.delete(ev.object.metadata.uid);
          else if (ev.type === 'ERROR') { expired = true; return; }
          else return;
          changed();
        });
      } catch (e) {
        if (signal.aborted) return;
      } finally {
        // An aborted page's watches were already forgotten when the next page started.
        if (counted && !signal.aborted) setLive(-1);
      }
      await sleep(1000, signal);
    }
  })();
  return items;
}

/** Asks before an action, in the page's own dialog. */
function confirmAction(text, okLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise(resolve => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

function time(t) { return t ? Date.parse(t) : NaN; }

/** 5s, 3m12s, 2h5m, 3d4h: as kubectl prints ages and durations. */
function human(ms) {
  if (!isFinite(ms)) return '';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(hours / 24)}d${hours % 24 ? `${hours % 24}h` : ''}`;
}

function age(t) { return human(Date.now() - time(t)); }

/** A small YAML writer for showing objects (block style; strings quoted when they would read as something else). */
function yaml(value, indent = '') {
  const scalar = v => {
    if (v === null || v === undefined) return 'null';
    if (typeof v !== 'string') return String(v);
    if (v === '' || /^[\s\-?:,\[\]{}#&*!|>'"%@`]|[:#]\s|\s$|^(true|false|null|yes|no|on|off|~)$|^[-+.\d]/i.test(v) || v.includes('\n')) {
      return JSON.stringify(v);
    }
    return v;
  };
  if (Array.isArray(value)) {
    if (!value.length) return ' []';
    return value.map(item => {
      if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length) {
        const inner = yaml(item, indent + '  ').replace(/^\n\s*/, '');
        return `\n${indent}- ${inner}`;
      }
      return `\n${indent}-${yaml(item, indent + '  ')}`;
    }).join('');
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (!keys.length) return ' {}';
    return keys.map(k => `\n${indent}${scalar(k)}:${yaml(value[k], indent + '  ')}`).join('');
  }
  return ' ' + scalar(value);
}

function objectYaml(o) {
  const copy = structuredClone(o);
  if (copy.metadata) delete copy.metadata.managedFields;
  return yaml(copy).replace(/^\n/, '');
}

function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map(x => h('th', {}, x)))), h('tbody', {}, rows));
}

function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

function errorBox(e) { return h('p', { class: 'error' }, String(e.message || e)); }

// ---- Jobs ----------------------------------------------------------------------------------------------

/** Complete, Failed, Suspended, Terminating or Running: what a Job is doing, in one word. */
function jobStatus(j) {
  const trueTypes = (j.status?.conditions || []).filter(c => c.status === 'True').map(c => c.type);
  if (trueTypes.includes('Complete')) return 'Complete';
  if (trueTypes.includes('Failed') || trueTypes.includes('FailureTarget')) return 'Failed';
  if (j.metadata.deletionTimestamp) return 'Terminating';
  if (j.spec?.suspend) return 'Suspended';
  return 'Running';
}

function jobDuration(j) {
  const start = time(j.status?.startTime);
  if (!isFinite(start)) return '';
  const end = time(j.status?.completionTime);
  return human((isFinite(end) ? end : Date.now()) - start);
}

function progress(j) {
  const succeeded = j.status?.succeeded || 0;
  const failed = j.status?.failed || 0;
  const active = j.status?.active || 0;
  const want = j.spec?.completions;
  const total = want ?? Math.max(1, succeeded);
  const pct = n => `${Math.min(100, (100 * n) / Math.max(total, 1))}%`;
  const bar = h('div', { class: 'progress', title: `${succeeded} succeeded, ${active} active, ${failed} failed` },
    h('span', { class: 'ok', style: { width: pct(succeeded) } }),
    h('span', { class: 'active', style: { width: pct(Math.min(active, Math.max(total - succeeded, 0))) } }));
  const text = want == null ? `${succeeded}/1 of ${j.spec?.parallelism ?? 1}` : `${succeeded}/${want}`;
  return h('div', { class: 'completions' }, bar, h('span', { class: 'count' }, text),
    failed ? h('span', { class: 'failed-count' }, `${failed} failed`) : null);
}

function statusBadge(s) { return h('span', { class: `badge ${s.toLowerCase()}` }, s); }

function jobsPage(params) {
  const ns = params.get('ns') || '';
  const label = params.get('label') || '';
  const status = params.get('status') || '';
  const setParam = (k, v) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v); else p.delete(k);
    location.hash = `#/jobs?${p}`;
  };
  const nsSelect = h('select', { id: 'filter-ns', onchange: e => setParam('ns', e.target.value) }, h('option', { value: '' }, 'all namespaces'));
  const labelInput = h('input', { id: 'filter-label', placeholder: 'label selector, e.g. app=pi', value: label });
  labelInput.addEventListener('change', () => setParam('label', labelInput.value.trim()));
  const statusSelect = h('select', { id: 'filter-status', onchange: e => setParam('status', e.target.value) },
    ['', 'Running', 'Complete', 'Failed', 'Suspended'].map(s => h('option', { value: s, selected: s === status }, s || 'any status')));
  const body = h('tbody');
  const count = h('span', { class: 'muted' });
  const problem = h('div');
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Jobs'), count),
    h('div', { class: 'filters' }, nsSelect, labelInput, statusSelect),
    problem,
    h('table', { id: 'jobs', class: 'list' },
      h('thead', {}, h('tr', {}, ['Namespace', 'Name', 'Status', 'Completions', 'Parallelism', 'Duration', 'Age'].map(x => h('th', {}, x)))),
      body));
  api('/api/v1/namespaces', { signal: page.signal }).then(list => {
    for (const n of list.items) nsSelect.append(h('option', { value: n.metadata.name, selected: n.metadata.name === ns }, n.metadata.name));
  }).catch(() => {});
  const path = ns ? `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs` : '/apis/batch/v1/jobs';
  const query = label ? `labelSelector=${encodeURIComponent(label)}` : '';
  let jobs = new Map();
  const render = () => {
    const shown = [...jobs.values()]
      .filter(j => !status || jobStatus(j) === status)
      .sort((a, b) => time(b.metadata.creationTimestamp) - time(a.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
    count.textContent = `${shown.length} of ${jobs.size}`;
    body.replaceChildren(...shown.map(j => {
      const s = jobStatus(j);
      const link = `#/job/${encodeURIComponent(j.metadata.namespace)}/${encodeURIComponent(j.metadata.name)}`;
      return h('tr', { 'data-job': `${j.metadata.namespace}/${j.metadata.name}`, 'data-status': s },
        h('td', {}, j.metadata.namespace),
        h('td', {}, h('a', { href: link }, j.metadata.name)),
        h('td', { class: 'status' }, statusBadge(s)),
        h('td', {}, progress(j)),
        h('td', {}, String(j.spec?.parallelism ?? 1)),
        h('td', {}, jobDuration(j)),
        h('td', {}, age(j.metadata.creationTimestamp)));
    }));
    if (!shown.length) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No Jobs.')));
  };
  jobs = informer(path, query, render);
  tick(render);
}

/** Re-renders every second (ages and durations move) while the page is shown. */
function tick(render) {
  const t = setInterval(render, 1000);
  page.signal.addEventListener('abort', () => clearInterval(t), { once: true });
}

// ---- one Job -------------------------------------------------------------------------------------------

function conditionsTable(conditions) {
  if (!conditions?.length) return h('p', { class: 'muted' }, 'None.');
  return table(['Type', 'Status', 'Reason', 'Message', 'Since'], conditions.map(c =>
    h('tr', {}, h('td', {}, c.type), h('td', {}, c.status), h('td', {}, c.reason || ''), h('td', {}, c.message || ''),
      h('td', {}, age(c.lastTransitionTime)))));
}

function eventsTable(events) {
  const list = [...events].sort((a, b) => time(eventTime(a)) - time(eventTime(b)));
  if (!list.length) return h('p', { class: 'muted' }, 'None.');
  return table(['Type', 'Reason', 'Age', 'Count', 'Message'], list.map(e =>
    h('tr', { class: e.type === 'Warning' ? 'warning' : '' }, h('td', {}, e.type || ''), h('td', {}, e.reason || ''),
      h('td', {}, age(eventTime(e))), h('td', {}, String(e.count || 1)), h('td', {}, e.message || ''))), { class: 'events' });
}

function eventTime(e) { return e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata.creationTimestamp; }

function jobPage(ns, name) {
  const jobPath = `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs/${encodeURIComponent(name)}`;
  const head = h('div', { class: 'page-head' });
  const actions = h('div', { class: 'actions' });
  const message = h('div');
  const tlSummary = h('p', { class: 'tl-summary', id: 'timeline-summary' });
  const tlBox = h('div', { class: 'timeline' });
  const conditions = h('div');
  const events = h('div');
  const spec = h('pre', { class: 'yaml', id: 'job-yaml' });
  const pods = h('div');
  main.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ` / ${ns} /`),
    head, actions, message,
    section('Timeline', legend(), tlSummary, tlBox),
    h('div', { class: 'two' }, section('Conditions', conditions), section('Events', events)),
    section('Pods', pods),
    section('Spec', spec));
  const view = new TimelineView(tlBox, document.getElementById('tooltip'),
    pod => { location.hash = `#/pod/${encodeURIComponent(ns)}/${encodeURIComponent(pod)}`; });
  page.signal.addEventListener('abort', () => view.destroy(), { once: true });

  let job = null;
  let loadingTimeline = false;
  let timelineAgain = false;
  async function loadTimeline() {
    if (loadingTimeline) { timelineAgain = true; return; }
    loadingTimeline = true;
    try {
      const r = await fetch(`/ui/api/timeline/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, { signal: page.signal, credentials: 'same-origin' });
      if (r.status === 401) { location.href = '/ui/login'; return; }
      if (r.ok) {
        const data = await r.json();
        view.set(data);
        summarize(data, tlSummary);
      }
    } catch (e) { /* the next change tries again */ }
    loadingTimeline = false;
    if (timelineAgain && !page.signal.aborted) {
      timelineAgain = false;
      await sleep(500, page.signal);
      loadTimeline();
    }
  }

  const renderJob = jobs => {
    job = [...jobs.values()][0] || null;
    if (!job) {
      head.replaceChildren(h('h1', {}, name), statusBadge('Deleted'));
      actions.hidden = true;
      return;
    }
    const s = jobStatus(job);
    head.replaceChildren(h('h1', {}, name), h('span', { id: 'job-status' }, statusBadge(s)), progress(job),
      h('span', { class: 'muted' }, `parallelism ${job.spec.parallelism ?? 1}`),
      h('span', { class: 'muted' }, `duration ${jobDuration(job) || '-'}`));
    conditions.replaceChildren(conditionsTable(job.status?.conditions));
    spec.textContent = objectYaml(job);
    renderActions(job);
    loadTimeline();
    if (!podsWatch) startPods(job.metadata.uid);
  };

  let podsWatch = null;
  function startPods(uid) {
    const render = items => {
      const list = [...items.values()].sort((a, b) => time(b.metadata.creationTimestamp) - time(a.metadata.creationTimestamp));
      const shown = list.slice(0, 50);
      pods.replaceChildren(list.length > shown.length ? h('p', { class: 'muted' }, `The newest 50 of ${list.length}.`) : '',
        table(['Name', 'Phase', 'Node', 'Restarts', 'Age'], shown.map(p => h('tr', {},
          h('td', {}, h('a', { href: `#/pod/${encodeURIComponent(ns)}/${encodeURIComponent(p.metadata.name)}` }, p.metadata.name)),
          h('td', {}, statusBadge(p.status?.phase || 'Pending')), h('td', {}, p.spec.nodeName || ''),
          h('td', {}, String((p.status?.containerStatuses || []).reduce((n, c) => n + c.restartCount, 0))),
          h('td', {}, age(p.metadata.creationTimestamp)))), { id: 'job-pods' }));
      loadTimeline();
    };
    podsWatch = informer(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
      `labelSelector=${encodeURIComponent(`batch.kubernetes.io/controller-uid=${uid}`)}`, render);
    informer(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`,
      `fieldSelector=${encodeURIComponent(`involvedObject.uid=${uid}`)}`, items => {
        events.replaceChildren(eventsTable(items.values()));
        loadTimeline();
      });
  }

  // The controls are made once; a change of the Job only updates them, so a choice being made survives it.
  const patch = async (body, what) => {
    try {
      await api(jobPath, { method: 'PATCH', json: body, contentType: 'application/merge-patch+json' });
      message.replaceChildren(h('p', { class: 'note' }, what));
    } catch (e) { message.replaceChildren(errorBox(e)); }
  };
  const parallelism = h('input', { type: 'number', min: 0, id: 'parallelism' });
  const cascade = h('select', { id: 'cascade' },
    h('option', { value: 'Background' }, 'and its pods (background)'),
    h('option', { value: 'Foreground' }, 'after its pods (foreground)'),
    h('option', { value: 'Orphan' }, 'but keep its pods (orphan)'));
  const suspendButton = h('button', { onclick: async () => {
    const suspend = !job.spec.suspend;
    const question = suspend ? `Suspend Job ${ns}/${name}? Its running pods are stopped.` : `Resume Job ${ns}/${name}?`;
    if (await confirmAction(question, suspend ? 'Suspend' : 'Resume')) {
      patch({ spec: { suspend } }, suspend ? 'Suspended.' : 'Resumed.');
    }
  } });
  const scaleButton = h('button', { id: 'scale', onclick: async () => {
    const n = Number(parallelism.value);
    if (!Number.isInteger(n) || n < 0) { message.replaceChildren(errorBox('Parallelism is a whole number, 0 or more.')); return; }
    if (await confirmAction(`Set the parallelism of ${ns}/${name} to ${n}?`, 'Scale')) patch({ spec: { parallelism: n } }, `Parallelism set to ${n}.`);
  } }, 'Scale');
  const deleteButton = h('button', { id: 'delete', class: 'danger', onclick: async () => {
    if (!await confirmAction(`Delete Job ${ns}/${name} ${cascade.selectedOptions[0].textContent}?`, 'Delete')) return;
    try {
      await api(jobPath, { method: 'DELETE', json: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: cascade.value } });
      location.hash = '#/jobs';
    } catch (e) { message.replaceChildren(errorBox(e)); }
  } }, 'Delete');
  actions.append(suspendButton,
    h('span', { class: 'group' }, h('label', { for: 'parallelism' }, 'Parallelism'), parallelism, scaleButton),
    h('span', { class: 'group' }, deleteButton, cascade));
  actions.hidden = true;

  function renderActions(j) {
    const suspended = !!j.spec.suspend;
    const finished = ['Complete', 'Failed'].includes(jobStatus(j));
    actions.hidden = false;
    suspendButton.id = suspended ? 'resume' : 'suspend';
    suspendButton.textContent = suspended ? 'Resume' : 'Suspend';
    suspendButton.disabled = finished;
    scaleButton.disabled = finished;
    if (document.activeElement !== parallelism) parallelism.value = j.spec.parallelism ?? 1;
  }

  informer(`/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs`, `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`, renderJob);
}

function legend() {
  const item = (cls, text) => h('span', { class: 'item' }, h('i', { class: cls }), text);
  return h('div', { class: 'legend' }, item('succeeded', 'succeeded'), item('failed', 'failed'), item('running', 'running'),
    item('pending', 'created, not started'), item('backoff', 'back-off before a retry'), item('suspended', 'suspended'),
    item('deadline', 'active deadline'));
}

/** The counts the picture shows, in words (and as data attributes). */
function summarize(t, el) {
  const perRow = new Map();
  for (const b of t.bars) perRow.set(b[0], [...(perRow.get(b[0]) || []), b]);
  let retried = 0;
  for (const bars of perRow.values()) if (bars.length > 1 && bars.slice(0, -1).some(b => b[4] === 'failed')) retried++;
  const failed = t.bars.filter(b => b[4] === 'failed').length;
  el.dataset.rows = t.rows.length;
  el.dataset.pods = t.bars.length;
  el.dataset.failed = failed;
  el.dataset.retried = retried;
  el.textContent = `${t.rows.length} ${t.indexed ? 'indexes' : 'rows'} · ${t.bars.length} pods · ${failed} failed · ${retried} retried`;
}

// ---- one pod -------------------------------------------------------------------------------------------

function stateText(c) {
  const s = c.state || {};
  if (s.running) return `Running since ${age(s.running.startedAt)}`;
  if (s.terminated) return `Terminated: exit ${s.terminated.exitCode}${s.terminated.reason ? ` (${s.terminated.reason})` : ''}`;
  if (s.waiting) return `Waiting${s.waiting.reason ? `: ${s.waiting.reason}` : ''}`;
  return 'Waiting';
}

function podPage(ns, name) {
  const podPath = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
  const head = h('div', { class: 'page-head' });
  const containers = h('div');
  const conditions = h('div');
  const events = h('div');
  const logs = h('pre', { class: 'logs', id: 'logs' });
  const containerSelect = h('select', { id: 'log-container' });
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ` / ${ns} / `);
  main.replaceChildren(crumbs, head,
    section('Containers', containers),
    h('div', { class: 'two' }, section('Conditions', conditions), section('Events', events)),
    section('Logs', h('div', { class: 'filters' }, containerSelect, h('label', {}, follow, ' follow')), logs));

  let logRun = null;
  function startLogs() {
    logRun?.abort();
    logRun = new AbortController();
    const signal = logRun.signal;
    page.signal.addEventListener('abort', () => logRun.abort(), { once: true });
    logs.textContent = '';
    const container = containerSelect.value;
    (async () => {
      while (!signal.aborted) {
        const q = new URLSearchParams({ container });
        if (follow.checked) q.set('follow', 'true');
        try {
          const r = await fetch(`${API}${podPath}/log?${q}`, { signal, credentials: 'same-origin' });
          if (r.status === 401) { location.href = '/ui/login'; return; }
          if (r.ok) {
            logs.textContent = '';
            const stick = () => logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
            await readLines(r, line => {
              const atEnd = stick();
              logs.append(line + '\n');
              if (atEnd) logs.scrollTop = logs.scrollHeight;
            });
            if (!follow.checked) return;
          } else {
            const s = await r.json().catch(() => null);
            logs.textContent = s?.message || `${r.status}`;
          }
        } catch (e) { if (signal.aborted) return; }
        // The container has not started yet, or its log ended while following: look again shortly.
        await sleep(2000, signal);
        if (!follow.checked) return;
      }
    })();
  }
  containerSelect.addEventListener('change', startLogs);
  follow.addEventListener('change', startLogs);

  const render = items => {
    const p = [...items.values()][0];
    if (!p) { head.replaceChildren(h('h1', {}, name), statusBadge('Deleted')); return; }
    const owner = (p.metadata.ownerReferences || []).find(o => o.controller && o.kind === 'Job');
    crumbs.replaceChildren(h('a', { href: '#/jobs' }, 'Jobs'), ` / ${ns} / `,
      owner ? h('a', { href: `#/job/${encodeURIComponent(ns)}/${encodeURIComponent(owner.name)}` }, owner.name) : '', owner ? ' /' : '');
    const phase = p.status?.phase || 'Pending';
    head.replaceChildren(h('h1', {}, name), h('span', { id: 'pod-phase' }, statusBadge(phase)),
      h('span', { class: 'muted' }, p.spec.nodeName ? `on ${p.spec.nodeName}` : 'not scheduled'),
      p.status?.reason ? h('span', { class: 'muted' }, p.status.reason) : '',
      h('span', { class: 'muted' }, `age ${age(p.metadata.creationTimestamp)}`));
    const statuses = new Map([...(p.status?.initContainerStatuses || []), ...(p.status?.containerStatuses || [])].map(c => [c.name, c]));
    const all = [...(p.spec.initContainers || []).map(c => [c, c.restartPolicy === 'Always' ? 'sidecar' : 'init']),
      ...p.spec.containers.map(c => [c, 'main'])];
    containers.replaceChildren(table(['Name', 'Kind', 'Image', 'State', 'Ready', 'Restarts', 'Last state'], all.map(([c, kind]) => {
      const st = statuses.get(c.name) || {};
      const last = st.lastState?.terminated;
      return h('tr', {}, h('td', {}, c.name), h('td', {}, kind), h('td', {}, c.image || ''), h('td', {}, stateText(st)),
        h('td', {}, st.ready ? 'yes' : 'no'), h('td', {}, String(st.restartCount || 0)),
        h('td', {}, last ? `exit ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}, ${age(last.finishedAt)} ago` : ''));
    }), { id: 'containers' }));
    conditions.replaceChildren(conditionsTable(p.status?.conditions));
    if (!containerSelect.options.length) {
      for (const [c] of all) containerSelect.append(h('option', { value: c.name, selected: c.name === p.spec.containers[0].name }, c.name));
      startLogs();
    }
  };
  const items = informer(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`, render);
  informer(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`,
    `fieldSelector=${encodeURIComponent(`involvedObject.name=${name},involvedObject.kind=Pod`)}`,
    ev => events.replaceChildren(eventsTable(ev.values())));
  tick(() => render(items));
}

// ---- nodes ---------------------------------------------------------------------------------------------

function nodesPage() {
  const body = h('tbody');
  const problem = h('div');
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Nodes')), problem,
    h('table', { id: 'nodes', class: 'list' },
      h('thead', {}, h('tr', {}, ['Name', 'Ready', 'CPU', 'Memory', 'Pods running / max', 'Heartbeat', 'Age'].map(x => h('th', {}, x)))), body));
  let nodes = new Map();
  let running = new Map();
  const render = () => {
    const perNode = new Map();
    for (const p of running.values()) if (p.status?.phase === 'Running') perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) || 0) + 1);
    body.replaceChildren(...[...nodes.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map(n => {
      const ready = (n.status?.conditions || []).find(c => c.type === 'Ready');
      const cap = n.status?.capacity || {};
      return h('tr', { 'data-node': n.metadata.name },
        h('td', {}, n.metadata.name), h('td', {}, statusBadge(ready?.status === 'True' ? 'Ready' : 'NotReady')),
        h('td', {}, cap.cpu || ''), h('td', {}, cap.memory || ''),
        h('td', {}, `${perNode.get(n.metadata.name) || 0} / ${cap.pods || '?'}`),
        h('td', {}, ready?.lastHeartbeatTime ? `${age(ready.lastHeartbeatTime)} ago` : ''),
        h('td', {}, age(n.metadata.creationTimestamp)));
    }));
    if (!nodes.size) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No nodes.')));
  };
  nodes = informer('/api/v1/nodes', '', render);
  running = informer('/api/v1/pods', `fieldSelector=${encodeURIComponent('status.phase=Running')}`, render);
  tick(render);
}

// ---- routing -------------------------------------------------------------------------------------------

function route() {
  page.abort();
  page = new AbortController();
  watching = 0;
  setLive(0);
  const [path, query] = (location.hash.replace(/^#/, '') || '/jobs').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('current', a.dataset.nav === parts[0] || (parts[0] !== 'nodes' && a.dataset.nav === 'jobs'));
  try {
    if (parts[0] === 'job' && parts.length === 3) jobPage(parts[1], parts[2]);
    else if (parts[0] === 'pod' && parts.length === 3) podPage(parts[1], parts[2]);
    else if (parts[0] === 'nodes') nodesPage();
    else jobsPage(new URLSearchParams(query || ''));
  } catch (e) {
    main.replaceChildren(errorBox(e));
  }
}

window.addEventListener('hashchange', route);
route();
