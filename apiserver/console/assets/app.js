// The Tweezer console: plain JavaScript, no framework, charts drawn as SVG
// by hand. It speaks the facade's REST API with the user's bearer token,
// which stays in this tab's sessionStorage.
'use strict';

(function () {
  // The facade's base URL: the console is served at <base>/console.
  const base = location.pathname.replace(/\/console\/?$/, '');
  const API = base + '/api/v1';
  const TERMINAL = ['DONE', 'ERROR', 'CANCELED', 'TIMED_OUT'];
  const LIVE = ['PENDING', 'RUNNING'];
  const STATUSES = ['PENDING', 'RUNNING', 'PAUSED', 'DONE', 'ERROR', 'CANCELED', 'TIMED_OUT'];
  const DEVICE_TYPES = ['EMU_FREE', 'EMU_SV', 'EMU_TN', 'EMU_C', 'EMU_MPS', 'EMU_FRESNEL', 'FRESNEL'];
  const QUEUES = ['HIGH', 'MEDIUM', 'LOW'];
  const SVGNS = 'http://www.w3.org/2000/svg';
  const PAGE = 20;

  const session = {
    get token() { return sessionStorage.getItem('tweezer.token'); },
    get project() { return sessionStorage.getItem('tweezer.project'); },
    set(k, v) { if (v == null) sessionStorage.removeItem('tweezer.' + k); else sessionStorage.setItem('tweezer.' + k, v); },
    clear() { ['token', 'project', 'projects', 'superuser'].forEach((k) => sessionStorage.removeItem('tweezer.' + k)); },
    get projects() { try { return JSON.parse(sessionStorage.getItem('tweezer.projects')) || []; } catch (e) { return []; } },
    get superuser() { return sessionStorage.getItem('tweezer.superuser') === 'true'; },
  };

  // ---- HTTP --------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  const explain = {
    401: 'Not signed in: the token is missing, invalid or expired',
    403: 'Not allowed',
    404: 'Not found',
    409: 'Conflict',
    422: 'The request was refused as invalid',
  };

  // api calls the facade and returns the envelope; errors become ApiError
  // with a readable message (the status, what it means, the API's words).
  async function api(method, path, body, token) {
    const headers = { Authorization: 'Bearer ' + (token || session.token) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, 'The facade did not answer (' + e.message + ')');
    }
    let doc = null;
    try { doc = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      let msg = (explain[resp.status] || 'Request failed') + ' (HTTP ' + resp.status + ')';
      const d = doc && doc.data;
      if (d && d.description) msg += ': ' + d.description;
      else if (doc && doc.message) msg += ': ' + doc.message;
      if (d && Array.isArray(d.detail)) {
        for (const x of d.detail) msg += '\n• ' + (x.loc || []).join('.') + ': ' + x.msg;
      }
      throw new ApiError(resp.status, msg);
    }
    return doc;
  }

  // ---- DOM helpers ---------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
    for (const c of children.flat()) {
      if (c == null) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const main = () => document.getElementById('main');
  const badge = (st) => h('span', { class: 'badge st-' + st, 'data-status': st }, st);
  const when = (t) => (t ? new Date(t).toLocaleString() : '—');
  const short = (id) => (id || '').slice(0, 8);

  function showError(err) {
    const box = document.getElementById('error');
    if (!err) { box.hidden = true; box.textContent = ''; return; }
    box.textContent = err.message || String(err);
    box.hidden = false;
  }

  // ---- routing and polling ---------------------------------------------

  let timer = null;
  let generation = 0; // a view's polls stop when another view renders

  function poll(fn, ms) {
    const g = generation;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (g !== generation || document.hidden) { if (g === generation) poll(fn, ms); return; }
      try { await fn(); } catch (e) { if (g === generation) fail(e); }
    }, ms);
  }

  function fail(err) {
    if (err instanceof ApiError && err.status === 401) {
      session.clear();
      renderSignIn(err.message);
      return;
    }
    showError(err);
  }

  async function route() {
    generation++;
    clearTimeout(timer);
    showError(null);
    if (!session.token) { renderSignIn(); return; }
    renderChrome();
    const [, view, arg] = (location.hash || '#/batches').split('/');
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.dataset.nav === view || (view === 'batch' && a.dataset.nav === 'batches'));
    const g = generation;
    try {
      if (view === 'batch' && arg) await renderBatch(decodeURIComponent(arg), g);
      else if (view === 'queues') await renderQueues(g);
      else if (view === 'devices') await renderDevices(g);
      else await renderBatches(g);
    } catch (e) {
      if (g !== generation) return;
      fail(e);
      if (main().dataset.view === 'loading') main().replaceChildren(h('p', { class: 'muted' }, 'Nothing to show.'));
    }
  }

  function setMain(view, ...children) {
    const m = main();
    m.dataset.view = view;
    m.replaceChildren(...children);
  }

  // ---- sign-in ---------------------------------------------------------------

  function renderSignIn(message) {
    document.getElementById('nav').hidden = true;
    document.getElementById('who').hidden = true;
    showError(null);
    const ta = h('textarea', { id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'eyJhbGciOi…', required: true });
    const err = h('div', { id: 'signin-error', class: 'error', role: 'alert', hidden: !message }, message || '');
    const btn = h('button', { id: 'signin', type: 'submit' }, 'Sign in');
    const form = h('form', { class: 'card signin', id: 'signin-form' },
      h('h1', {}, 'Sign in'),
      h('p', {}, 'Paste a bearer token (the one ', h('code', {}, 'make run'), ' prints, or any token the cluster accepts). It is kept in this tab only and sent to this facade only.'),
      h('label', { for: 'token' }, 'Token'), ta, err, h('p', {}, btn));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      err.hidden = true;
      const token = ta.value.trim();
      try {
        await signIn(token);
        location.hash = '#/batches';
        await route();
      } catch (e) {
        err.textContent = 'Sign-in failed. ' + e.message;
        err.hidden = false;
      } finally { btn.disabled = false; }
    });
    setMain('signin', form);
    ta.focus();
  }

  // signIn checks a token: its projects are the memberships it may list
  // batches in; a superuser may read every project's last activity.
  async function signIn(token) {
    if (!token) throw new ApiError(0, 'Paste a token first.');
    const projects = (await api('GET', '/projects', undefined, token)).data || [];
    if (projects.length === 0) throw new ApiError(403, 'This token is valid but belongs to no project: ask for a membership (a tweezer-user RoleBinding).');
    let superuser = false;
    try {
      await api('GET', '/batches/last_activity?project_id=' + encodeURIComponent(projects[0].id), undefined, token);
      superuser = true;
    } catch (e) { if (!(e instanceof ApiError) || e.status !== 403) throw e; }
    session.set('token', token);
    session.set('projects', JSON.stringify(projects));
    session.set('superuser', String(superuser));
    if (!projects.some((p) => p.id === session.project)) session.set('project', projects[0].id);
  }

  function renderChrome() {
    document.getElementById('nav').hidden = false;
    document.getElementById('who').hidden = false;
    const sel = document.getElementById('project');
    sel.replaceChildren(...session.projects.map((p) => h('option', { value: p.id, selected: p.id === session.project }, p.name === p.id ? p.id : p.name + ' (' + short(p.id) + ')')));
    document.getElementById('role').textContent = session.superuser ? 'superuser' : '';
  }

  // ---- batches list ----------------------------------------------------------

  const listState = { offset: 0, status: '', device_type: '', queue_priority: '', tag: '', open: '', dir: 'DESC' };

  // Device types are an open set: the documented ones and those the devices declare.
  let deviceTypes = null;
  async function knownDeviceTypes() {
    if (!deviceTypes) {
      let declared = [];
      try { declared = ((await api('GET', '/devices?limit=100')).data || []).map((d) => d.device_type); } catch (e) { if (e.status === 401) throw e; }
      deviceTypes = [...new Set([...DEVICE_TYPES, ...declared])].sort();
    }
    return deviceTypes;
  }

  async function renderBatches(g) {
    const types = await knownDeviceTypes();
    if (g !== generation) return;
    const form = h('form', { class: 'filters', id: 'filters' },
      select('Status', 'status', ['', ...STATUSES]),
      select('Device type', 'device_type', ['', ...types]),
      select('Queue priority', 'queue_priority', ['', ...QUEUES]),
      h('label', {}, 'Tag', h('input', { name: 'tag', value: listState.tag, size: 12 })),
      select('Open', 'open', ['', 'true', 'false']),
      select('Order', 'dir', ['DESC', 'ASC'], { DESC: 'newest first', ASC: 'oldest first' }),
      h('button', { type: 'submit' }, 'Apply'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      for (const k of ['status', 'device_type', 'queue_priority', 'tag', 'open', 'dir']) listState[k] = f.get(k) || '';
      listState.offset = 0;
      route();
    });
    const table = h('div', { id: 'batches' }, h('p', { class: 'muted' }, 'Loading…'));
    setMain('batches', h('h1', {}, 'Batches'), form, table);
    const load = async () => {
      const q = new URLSearchParams({ project_id: session.project, limit: PAGE, offset: listState.offset, order_by: 'created_at', order_by_direction: listState.dir });
      for (const k of ['status', 'device_type', 'queue_priority', 'tag', 'open']) if (listState[k]) q.set(k, listState[k]);
      const doc = await api('GET', '/batches?' + q);
      if (g !== generation) return;
      table.replaceChildren(batchTable(doc.data || []), pager(doc.pagination));
      if ((doc.data || []).some((b) => LIVE.includes(b.status))) poll(load, 2000);
    };
    await load();
  }

  function select(label, name, values, names) {
    return h('label', {}, label, h('select', { name },
      values.map((v) => h('option', { value: v, selected: listState[name] === v }, v === '' ? 'any' : (names && names[v]) || v))));
  }

  function counts(per) {
    const parts = Object.entries(per || {}).filter(([, n]) => n > 0).map(([k, n]) => k + ' ' + n);
    return parts.length ? parts.join(' · ') : '—';
  }

  function batchTable(batches) {
    if (batches.length === 0) return h('p', { class: 'muted', id: 'no-batches' }, 'No batch matches.');
    return h('table', { class: 'batches' },
      h('thead', {}, h('tr', {}, ['Batch', 'Status', 'Device type', 'Queue', 'Priority', 'Jobs', 'Jobs per status', 'Tags', 'Created', 'Started', 'Ended'].map((t) => h('th', {}, t)))),
      h('tbody', {}, batches.map((b) => h('tr', { 'data-batch': b.id },
        h('td', {}, h('a', { href: '#/batch/' + encodeURIComponent(b.id), class: 'mono', title: b.id }, short(b.id)), b.open ? h('span', { class: 'tag' }, 'open') : null),
        h('td', {}, badge(b.status)),
        h('td', {}, b.device_type),
        h('td', {}, b.queue_priority),
        h('td', { class: 'num' }, b.priority),
        h('td', { class: 'num' }, b.jobs_count),
        h('td', { class: 'jobcounts' }, counts(b.jobs_count_per_status)),
        h('td', {}, (b.tags || []).map((t) => h('span', { class: 'tag' }, t))),
        h('td', {}, when(b.created_at)),
        h('td', {}, when(b.start_datetime)),
        h('td', {}, when(b.end_datetime))))));
  }

  function pager(p) {
    if (!p) return null;
    const prev = h('button', { type: 'button', class: 'secondary', disabled: p.start === 0 }, '← Previous');
    const next = h('button', { type: 'button', class: 'secondary', disabled: p.end >= p.total }, 'Next →');
    prev.addEventListener('click', () => { listState.offset = Math.max(0, listState.offset - PAGE); route(); });
    next.addEventListener('click', () => { listState.offset = p.end; route(); });
    return h('div', { class: 'pager' }, prev, h('span', { id: 'page-info' }, p.total ? (p.start + 1) + '–' + p.end + ' of ' + p.total : '0 of 0'), next);
  }

  // ---- batch page ------------------------------------------------------------

  const jobView = {}; // per job id: { sort, top, time }

  async function renderBatch(id, g) {
    setMain('loading', h('p', { class: 'muted' }, 'Loading batch…'));
    const load = async () => {
      const doc = await api('GET', '/batches/' + encodeURIComponent(id));
      if (g !== generation) return;
      const b = doc.data;
      let queue = null;
      if (!TERMINAL.includes(b.status)) {
        try { queue = (await api('GET', '/batches/' + encodeURIComponent(id) + '/queue_position')).data; } catch (e) { if (e.status === 401) throw e; }
      }
      if (g !== generation) return;
      const scroll = window.scrollY;
      setMain('batch', ...batchPage(b, queue));
      window.scrollTo(0, scroll);
      if (!TERMINAL.includes(b.status)) poll(load, 1500);
    };
    await load();
  }

  function batchPage(b, queue) {
    const jobs = (b.jobs || []).slice().sort((x, y) => x.creation_order - y.creation_order);
    const seq = parseJSON(b.sequence_builder);
    const actions = h('div', { class: 'actions' },
      !TERMINAL.includes(b.status) ? action('Cancel batch', 'cancel-batch', 'danger', 'Click again to cancel the batch', () => api('PUT', '/batches/' + b.id + '/cancel')) : null,
      b.open && !TERMINAL.includes(b.status) ? action('Close batch', 'close-batch', 'secondary', null, () => api('PUT', '/batches/' + b.id + '/complete')) : null,
      h('button', { type: 'button', class: 'secondary', id: 'download-json', onclick: () => download('batch-' + b.id + '.json', 'application/json', JSON.stringify(b, null, 2)) }, 'Download JSON'),
      h('button', { type: 'button', class: 'secondary', id: 'download-csv', onclick: () => download('batch-' + b.id + '.csv', 'text/csv', toCSV(b)) }, 'Download CSV'));
    const facts = h('dl', { class: 'facts' },
      fact('Status', badge(b.status)), fact('Device type', b.device_type + (b.device_status ? ' (' + b.device_status + ')' : '')),
      fact('Queue priority', b.queue_priority), fact('Priority', b.priority), fact('Open', b.open ? 'yes: accepts more jobs' : 'no'),
      fact('Jobs', b.jobs_count + ' — ' + counts(b.jobs_count_per_status)), fact('User', b.user_id),
      fact('Tags', (b.tags || []).length ? (b.tags || []).map((t) => h('span', { class: 'tag' }, t)) : '—'),
      fact('Created', when(b.created_at)), fact('Started', when(b.start_datetime)), fact('Ended', when(b.end_datetime)));
    const left = h('div', {}, h('div', { class: 'card' }, facts, actions), queue ? queueCard(queue) : null);
    const right = h('div', { class: 'card' }, h('h2', {}, 'Register'), registerChart(seq));
    return [
      h('p', {}, h('a', { href: '#/batches' }, '← Batches')),
      h('h1', {}, 'Batch ', h('span', { class: 'mono', id: 'batch-id' }, b.id), ' ', badge(b.status)),
      h('div', { class: 'grid2' }, left, right),
      h('h2', {}, 'Jobs'), jobsTable(b, jobs),
      h('div', { id: 'results' }, jobs.map((j) => jobResults(j))),
    ];
  }

  function fact(k, ...v) { return [h('dt', {}, k), h('dd', {}, ...v)]; }

  function action(label, id, cls, confirmText, call) {
    const btn = h('button', { type: 'button', class: cls, id });
    btn.textContent = label;
    // A destructive action asks to be clicked twice (no modal dialog).
    let armed = !confirmText;
    btn.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        btn.textContent = confirmText;
        btn.dataset.armed = 'true';
        return;
      }
      btn.disabled = true;
      try { await call(); showError(null); await route(); } catch (e) { fail(e); btn.disabled = false; }
    });
    return btn;
  }

  function queueCard(q) {
    const pos = q.waiting ? h('p', { id: 'queue-position' }, h('strong', {}, 'Position ' + q.position + ' of ' + q.queue_length), ' in the ' + q.device_type + ' queue') : null;
    return h('div', { class: 'card queuebox', id: 'queue' },
      h('h2', {}, 'Queue'), pos,
      h('p', { id: 'queue-reason' }, h('span', { class: 'tag' }, q.reason), ' ', q.message));
  }

  function jobsTable(b, jobs) {
    if (jobs.length === 0) return h('p', { class: 'muted' }, b.open ? 'No job yet: the batch is open and waits for jobs.' : 'No job.');
    return h('table', { id: 'jobs' },
      h('thead', {}, h('tr', {}, ['#', 'Job', 'Variables', 'Runs', 'Status', 'Progress', 'Errors', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, jobs.map((j) => h('tr', { 'data-job': j.id },
        h('td', { class: 'num' }, j.creation_order),
        h('td', {}, h('a', { href: '#job-' + j.id, class: 'mono', title: j.id, onclick: (ev) => { ev.preventDefault(); const el = document.getElementById('job-' + j.id); if (el) el.scrollIntoView(); } }, short(j.id))),
        h('td', {}, h('code', {}, JSON.stringify(j.variables))),
        h('td', { class: 'num' }, j.runs),
        h('td', {}, badge(j.status)),
        h('td', {}, h('progress', { max: 100, value: j.status === 'DONE' ? 100 : j.progress || 0 }), ' ', (j.status === 'DONE' ? 100 : j.progress || 0) + '%'),
        h('td', {}, (j.errors || []).join('; ')),
        h('td', {}, ['PENDING', 'RUNNING'].includes(j.status) ? action('Cancel job', 'cancel-job-' + j.id, 'danger', 'Click again to cancel the job', () => api('PUT', '/jobs/' + j.id + '/cancel')) : null)))));
  }

  function jobResults(j) {
    const counter = j.result || (j.full_result && j.full_result.counter);
    if (!counter) return null;
    const v = jobView[j.id] || (jobView[j.id] = { sort: 'count', top: 16, time: -1 });
    const hist = h('div', { class: 'chart histogram', 'data-job': j.id });
    const draw = () => drawInto(hist, (w) => histogram(counter, v, w));
    const sortSel = h('select', { class: 'sort' }, h('option', { value: 'count', selected: v.sort === 'count' }, 'by count'), h('option', { value: 'bitstring', selected: v.sort === 'bitstring' }, 'by bitstring'));
    sortSel.addEventListener('change', () => { v.sort = sortSel.value; draw(); });
    const top = h('input', { type: 'number', min: 1, max: 256, value: v.top, class: 'top' });
    top.addEventListener('change', () => { v.top = Math.max(1, parseInt(top.value, 10) || 16); draw(); });
    const total = Object.values(counter).reduce((a, n) => a + n, 0);
    const section = h('section', { class: 'card job', id: 'job-' + j.id },
      h('h3', {}, 'Job ' + j.creation_order + ' ', h('code', {}, JSON.stringify(j.variables)), ' — ', total + ' shots, ' + Object.keys(counter).length + ' distinct bitstrings'),
      h('div', { class: 'chartbar' }, h('label', {}, 'Sort ', sortSel), h('label', {}, 'Top ', top, ' bitstrings, the rest as “other”')),
      hist);
    draw();
    const results = parseJSON(j.full_result && j.full_result.serialised_results);
    if (results) {
      const occ = observable(results, 'occupation');
      const corr = observable(results, 'correlation_matrix');
      if (occ) {
        const oc = h('div', { class: 'chart occupation' });
        section.append(h('h3', {}, 'Occupation per atom over time'), oc);
        drawInto(oc, (w) => lineChart(occ, results, w));
      }
      if (corr && corr.values.length) {
        if (v.time < 0 || v.time >= corr.values.length) v.time = corr.values.length - 1;
        const hm = h('div', { class: 'chart correlation' });
        const tsel = h('select', {}, corr.times.map((t, i) => h('option', { value: i, selected: i === v.time }, Math.round(t * (results.total_duration || 1)) + ' ns')));
        tsel.addEventListener('change', () => { v.time = +tsel.value; drawInto(hm, (w) => heatmap(corr.values[v.time], results.atom_order, w)); });
        section.append(h('h3', {}, 'Correlation ⟨nᵢnⱼ⟩ at ', tsel), hm);
        drawInto(hm, (w) => heatmap(corr.values[v.time], results.atom_order, w));
      }
    }
    return section;
  }

  function observable(results, tag) {
    const id = results.tagmap && results.tagmap[tag];
    if (!id || !results.results || !results.results[id]) return null;
    return { values: results.results[id], times: (results.times && results.times[id]) || [] };
  }

  function parseJSON(text) {
    if (!text || typeof text !== 'string') return null;
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  // ---- charts ------------------------------------------------------------------

  // drawInto renders an SVG sized to el's width, and again whenever it resizes.
  const observed = new WeakMap();
  // Redraws wait for the next frame, so a redraw never resizes what is
  // being observed within the same frame.
  const resizer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const w = Math.round(e.contentRect.width);
      requestAnimationFrame(() => {
        const f = observed.get(e.target);
        if (f && w > 0 && w !== f.width) { f.width = w; e.target.replaceChildren(f.draw(w)); }
      });
    }
  });
  function drawInto(el, draw) {
    const w = Math.round(el.getBoundingClientRect().width) || 640;
    observed.set(el, { draw, width: w });
    el.replaceChildren(draw(w));
    resizer.observe(el);
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // histogram draws the counter's top-k bitstrings (by count or bitstring),
  // the rest summed into a hatched "other" bar; every bar carries its count
  // as text, so colour is not needed to read it.
  function histogram(counter, v, width) {
    let entries = Object.entries(counter).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    let other = null;
    if (entries.length > v.top) {
      const rest = entries.slice(v.top);
      other = { n: rest.length, count: rest.reduce((a, e) => a + e[1], 0) };
      entries = entries.slice(0, v.top);
    }
    if (v.sort === 'bitstring') entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const bars = entries.map(([k, n]) => ({ label: k, count: n }));
    if (other) bars.push({ label: 'other (' + other.n + ')', count: other.count, other: true });
    const longest = Math.max(...bars.map((b) => b.label.length));
    const rotate = bars.length * (longest * 7 + 6) > width - 60;
    const m = { l: 48, r: 10, t: 18, b: rotate ? 14 + longest * 6.5 : 34 };
    const H = 240, plotH = H - m.t - m.b, plotW = width - m.l - m.r;
    const ymax = niceMax(Math.max(...bars.map((b) => b.count)));
    const step = plotW / Math.max(1, bars.length);
    const bw = Math.max(2, step * 0.72);
    const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + H, width, height: H, role: 'img', 'aria-label': 'Histogram of measured bitstrings' },
      s('defs', {}, s('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 6, height: 6, fill: '#ffffff' }), s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#4a4f58', 'stroke-width': 3 }))));
    for (let i = 0; i <= 4; i++) {
      const val = (ymax * i) / 4, y = m.t + plotH - (plotH * i) / 4;
      svg.append(s('line', { class: 'gridline', x1: m.l, x2: width - m.r, y1: y, y2: y }),
        s('text', { x: m.l - 6, y: y + 4, 'text-anchor': 'end' }, Number.isInteger(val) ? val : val.toFixed(1)));
    }
    bars.forEach((b, i) => {
      const hgt = (plotH * b.count) / ymax;
      const x = m.l + i * step + (step - bw) / 2, y = m.t + plotH - hgt;
      svg.append(s('rect', { class: b.other ? 'bar other' : 'bar', x: x.toFixed(2), y: y.toFixed(2), width: bw.toFixed(2), height: hgt.toFixed(2), 'data-bitstring': b.other ? null : b.label, 'data-count': b.count, 'data-other': b.other ? 'true' : null },
        s('title', {}, b.label + ': ' + b.count)));
      if (bw >= 14) svg.append(s('text', { x: x + bw / 2, y: y - 4, 'text-anchor': 'middle', class: 'count' }, b.count));
      const lx = x + bw / 2, ly = m.t + plotH + 14;
      svg.append(rotate
        ? s('text', { x: lx, y: ly - 4, 'text-anchor': 'end', transform: 'rotate(-60 ' + lx + ' ' + (ly - 4) + ')', class: 'mono' }, b.label)
        : s('text', { x: lx, y: ly, 'text-anchor': 'middle', class: 'mono' }, b.label));
    });
    svg.append(s('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: m.t + plotH }), s('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: m.t + plotH, y2: m.t + plotH }),
      s('text', { x: 12, y: m.t + plotH / 2, transform: 'rotate(-90 12 ' + (m.t + plotH / 2) + ')', 'text-anchor': 'middle' }, 'count'));
    return svg;
  }

  // Series are told apart by dash pattern and marker shape as well as colour.
  const SERIES = [
    { color: '#1f5fb0', dash: null, marker: 'circle' }, { color: '#b5461f', dash: '6 3', marker: 'square' },
    { color: '#2d7d3a', dash: '2 3', marker: 'triangle' }, { color: '#6b3fa0', dash: '8 3 2 3', marker: 'diamond' },
    { color: '#8a6d00', dash: '12 4', marker: 'cross' }, { color: '#1b7f86', dash: '4 2 4 6', marker: 'circle' },
  ];

  function marker(kind, x, y, color) {
    const r = 3.5;
    switch (kind) {
      case 'square': return s('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: color });
      case 'triangle': return s('path', { d: 'M' + x + ' ' + (y - r - 1) + 'L' + (x + r + 1) + ' ' + (y + r) + 'L' + (x - r - 1) + ' ' + (y + r) + 'Z', fill: color });
      case 'diamond': return s('path', { d: 'M' + x + ' ' + (y - r - 1) + 'L' + (x + r + 1) + ' ' + y + 'L' + x + ' ' + (y + r + 1) + 'L' + (x - r - 1) + ' ' + y + 'Z', fill: color });
      case 'cross': return s('path', { d: 'M' + (x - r) + ' ' + (y - r) + 'L' + (x + r) + ' ' + (y + r) + 'M' + (x - r) + ' ' + (y + r) + 'L' + (x + r) + ' ' + (y - r), stroke: color, 'stroke-width': 2 });
      default: return s('circle', { cx: x, cy: y, r, fill: color });
    }
  }

  function lineChart(obs, results, width) {
    const atoms = results.atom_order || [];
    const dur = results.total_duration || 1;
    const n = Math.max(0, ...obs.values.map((v) => (Array.isArray(v) ? v.length : 0)));
    const H = 240, m = { l: 44, r: 12, t: 12, b: 34 }, plotW = width - m.l - m.r, plotH = H - m.t - m.b;
    const times = obs.times.length === obs.values.length ? obs.times : obs.values.map((_, i) => (obs.values.length > 1 ? i / (obs.values.length - 1) : 1));
    const X = (t) => m.l + plotW * t, Y = (v) => m.t + plotH * (1 - v);
    const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + H, width, height: H, role: 'img', 'aria-label': 'Occupation of each atom over time' });
    for (let i = 0; i <= 4; i++) svg.append(s('line', { class: 'gridline', x1: m.l, x2: width - m.r, y1: Y(i / 4), y2: Y(i / 4) }), s('text', { x: m.l - 6, y: Y(i / 4) + 4, 'text-anchor': 'end' }, (i / 4).toFixed(2)));
    for (let i = 0; i <= 4; i++) svg.append(s('text', { x: X(i / 4), y: H - 18, 'text-anchor': 'middle' }, Math.round((dur * i) / 4)));
    svg.append(s('text', { x: m.l + plotW / 2, y: H - 4, 'text-anchor': 'middle' }, 'time (ns)'),
      s('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: m.t + plotH }), s('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: m.t + plotH, y2: m.t + plotH }));
    for (let a = 0; a < n; a++) {
      const st = SERIES[a % SERIES.length];
      const pts = obs.values.map((v, i) => [X(times[i]), Y(Math.min(1, Math.max(0, +v[a] || 0)))]);
      svg.append(s('polyline', { class: 'series', points: pts.map((p) => p.map((c) => c.toFixed(1)).join(',')).join(' '), stroke: st.color, 'stroke-dasharray': st.dash, 'data-atom': atoms[a] || a }));
      for (const [x, y] of pts) svg.append(marker(st.marker, x, y, st.color));
    }
    const wrap = h('div', {}, svg, h('div', { class: 'legend' }, Array.from({ length: n }, (_, a) => {
      const st = SERIES[a % SERIES.length];
      return h('span', {}, legendSwatch(st), ' ' + (atoms[a] || 'atom ' + a));
    })));
    return wrap;
  }

  function legendSwatch(st) {
    return s('svg', { viewBox: '0 0 34 12', width: 34, height: 12 }, s('line', { x1: 1, x2: 33, y1: 6, y2: 6, stroke: st.color, 'stroke-width': 2, 'stroke-dasharray': st.dash }), marker(st.marker, 17, 6, st.color));
  }

  // heatmap draws a matrix in a light-to-dark blue ramp with every value
  // written in its cell (when cells are large enough), and a scale.
  function heatmap(matrix, atoms, width) {
    const n = matrix.length;
    const size = Math.min(width - 90, 480);
    const cell = size / Math.max(1, n), m = { l: 50, t: 10 };
    const H = m.t + size + 40;
    let lo = Infinity, hi = -Infinity;
    for (const row of matrix) for (const v of row) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    lo = Math.min(0, lo); hi = Math.max(hi, lo + 1e-9);
    const shade = (v) => { const t = (v - lo) / (hi - lo); const c = (a, b) => Math.round(a + (b - a) * t); return 'rgb(' + c(247, 8) + ',' + c(251, 48) + ',' + c(255, 107) + ')'; };
    const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + H, width, height: H, role: 'img', 'aria-label': 'Correlation matrix' });
    matrix.forEach((row, i) => {
      svg.append(s('text', { x: m.l - 6, y: m.t + cell * (i + 0.5) + 4, 'text-anchor': 'end' }, (atoms && atoms[i]) || i));
      row.forEach((v, j) => {
        const x = m.l + cell * j, y = m.t + cell * i;
        svg.append(s('rect', { x, y, width: cell, height: cell, fill: shade(v), stroke: '#ffffff', class: 'cell', 'data-value': v }, s('title', {}, ((atoms && atoms[i]) || i) + ',' + ((atoms && atoms[j]) || j) + ': ' + v.toFixed(3))));
        if (cell >= 30) svg.append(s('text', { x: x + cell / 2, y: y + cell / 2 + 4, 'text-anchor': 'middle', class: (v - lo) / (hi - lo) > 0.5 ? 'on-dark' : null }, v.toFixed(2)));
      });
    });
    matrix.forEach((_, j) => svg.append(s('text', { x: m.l + cell * (j + 0.5), y: m.t + size + 14, 'text-anchor': 'middle' }, (atoms && atoms[j]) || j)));
    const sx = m.l, sy = m.t + size + 22, sw = Math.min(160, size);
    for (let k = 0; k < 10; k++) svg.append(s('rect', { x: sx + (sw / 10) * k, y: sy, width: sw / 10, height: 8, fill: shade(lo + ((hi - lo) * (k + 0.5)) / 10) }));
    svg.append(s('text', { x: sx - 4, y: sy + 8, 'text-anchor': 'end' }, lo.toFixed(2)), s('text', { x: sx + sw + 4, y: sy + 8 }, hi.toFixed(2)));
    return svg;
  }

  // registerChart draws the sequence's atoms to scale (µm), with a scale bar.
  function registerChart(seq) {
    const reg = seq && Array.isArray(seq.register) ? seq.register : (seq && seq.register && Array.isArray(seq.register.register) ? seq.register.register : null);
    const el = h('div', { class: 'chart register' });
    if (!reg || reg.length === 0) { el.append(h('p', { class: 'muted' }, 'The sequence carries no register to draw.')); return el; }
    drawInto(el, (width) => {
      const xs = reg.map((a) => +a.x), ys = reg.map((a) => +a.y);
      const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
      const span = Math.max(maxX - minX, maxY - minY, 1);
      const pad = 28, size = Math.min(width, 360) - 2 * pad;
      const k = size / span; // pixels per µm, the same on both axes
      const W = Math.min(width, 360), H = (maxY - minY) * k + 2 * pad + 30;
      const cx = (x) => pad + (x - minX) * k + (size - (maxX - minX) * k) / 2;
      const cy = (y) => pad + (maxY - y) * k;
      const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'Register: ' + reg.length + ' atoms, to scale' });
      reg.forEach((a) => {
        svg.append(s('circle', { class: 'atom', cx: cx(+a.x), cy: cy(+a.y), r: 6, 'data-atom': a.name }, s('title', {}, a.name + ' (' + a.x + ', ' + a.y + ') µm')),
          s('text', { x: cx(+a.x) + 9, y: cy(+a.y) - 7 }, a.name));
      });
      let bar = niceMax(span / 4);
      if (bar * k > size) bar /= 2;
      const by = H - 12;
      svg.append(s('line', { class: 'scalebar', x1: pad, x2: pad + bar * k, y1: by, y2: by }), s('text', { x: pad + bar * k + 6, y: by + 4 }, bar + ' µm'));
      return svg;
    });
    return el;
  }

  // ---- downloads ---------------------------------------------------------------

  function download(name, type, text) {
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function csvCell(v) {
    const t = v == null ? '' : String(v);
    return /[",\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  }

  function toCSV(b) {
    const rows = [['batch_id', 'job_id', 'creation_order', 'status', 'runs', 'variables', 'bitstring', 'count']];
    for (const j of (b.jobs || []).slice().sort((x, y) => x.creation_order - y.creation_order)) {
      const c = j.result || {};
      const keys = Object.keys(c).sort();
      if (keys.length === 0) rows.push([b.id, j.id, j.creation_order, j.status, j.runs, JSON.stringify(j.variables), '', '']);
      for (const k of keys) rows.push([b.id, j.id, j.creation_order, j.status, j.runs, JSON.stringify(j.variables), k, c[k]]);
    }
    return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
  }

  // ---- queues ------------------------------------------------------------------

  async function renderQueues(g) {
    setMain('loading', h('p', { class: 'muted' }, 'Loading queues…'));
    const load = async () => {
      const devices = (await api('GET', '/devices')).data || [];
      const types = [...new Set(devices.map((d) => d.device_type))].sort();
      const queues = await Promise.all(types.map((t) => api('GET', '/devices/' + t + '/queue').then((d) => [t, d.data.device_queues])));
      const q = new URLSearchParams({ project_id: session.project, limit: 100, order_by: 'created_at', order_by_direction: 'ASC' });
      q.append('status', 'PENDING'); q.append('status', 'PAUSED');
      const waiting = (await api('GET', '/batches?' + q)).data || [];
      const positions = await Promise.all(waiting.map((b) => api('GET', '/batches/' + b.id + '/queue_position').then((d) => d.data, () => null)));
      if (g !== generation) return;
      setMain('queues', h('h1', {}, 'Queues'),
        h('h2', {}, 'Your waiting batches'),
        waiting.length === 0 ? h('p', { class: 'muted' }, 'None of this project\'s batches waits.') :
          h('table', { id: 'waiting' }, h('thead', {}, h('tr', {}, ['Batch', 'Status', 'Device type', 'Queue', 'Position', 'Why it waits'].map((t) => h('th', {}, t)))),
            h('tbody', {}, waiting.map((b, i) => {
              const p = positions[i];
              return h('tr', { 'data-batch': b.id }, h('td', {}, h('a', { href: '#/batch/' + b.id, class: 'mono' }, short(b.id))), h('td', {}, badge(b.status)), h('td', {}, b.device_type), h('td', {}, b.queue_priority),
                h('td', { class: 'num' }, p && p.waiting ? p.position + ' of ' + p.queue_length : '—'), h('td', {}, p ? p.reason + ': ' + p.message : '—'));
            }))),
        h('h2', {}, 'Pending work per device type (every project)'),
        h('table', { id: 'device-queues' }, h('thead', {}, h('tr', {}, ['Device type', 'Queue priority', 'Batches', 'Jobs', 'Shots', ''].map((t, i) => h('th', { class: i >= 2 && i < 5 ? 'num' : null }, t)))),
          h('tbody', {}, queues.flatMap(([t, qs]) => {
            const most = Math.max(1, ...qs.map((x) => x.number_of_shots));
            return qs.map((x) => h('tr', { 'data-type': t, 'data-queue': x.queue }, h('td', {}, t), h('td', {}, x.queue), h('td', { class: 'num' }, x.number_of_batches), h('td', { class: 'num' }, x.number_of_jobs), h('td', { class: 'num' }, x.number_of_shots),
              h('td', {}, s('svg', { viewBox: '0 0 120 10', width: 120, height: 10, role: 'img', 'aria-label': x.number_of_shots + ' shots' }, s('rect', { x: 0, y: 0, width: (120 * x.number_of_shots) / most, height: 10, class: 'bar' })))));
          }))));
      poll(load, 4000);
    };
    await load();
  }

  // ---- devices -----------------------------------------------------------------

  async function renderDevices(g) {
    setMain('loading', h('p', { class: 'muted' }, 'Loading devices…'));
    const load = async () => {
      const devices = ((await api('GET', '/devices?order_by=device_type&order_by_direction=ASC')).data) || [];
      const runners = await Promise.all(devices.map((d) => api('GET', '/devices/' + encodeURIComponent(d.id) + '/runner').then((r) => r.data, () => null)));
      if (g !== generation) return;
      const su = session.superuser;
      setMain('devices', h('h1', {}, 'Devices'),
        h('table', { id: 'devices' },
          h('thead', {}, h('tr', {}, ['Device', 'Type', 'Status', 'Kind', 'Max atoms', 'Current runner', 'Mean queue time', su ? 'Switch' : null].filter((x) => x != null).map((t) => h('th', {}, t)))),
          h('tbody', {}, devices.map((d, i) => {
            const r = runners[i];
            let running = '—';
            if (r) {
              running = r.running === 0 ? 'idle' : [r.running + ' of ' + r.capacity + ' slots busy', ...r.batch_ids.map((id) => [' ', h('a', { href: '#/batch/' + id, class: 'mono' }, short(id))])];
            }
            const next = d.status === 'UP' ? 'DOWN' : 'UP';
            return h('tr', { 'data-device': d.id },
              h('td', {}, d.name, ' ', h('code', { class: 'muted' }, d.id)), h('td', {}, d.device_type), h('td', {}, badge(d.status)),
              h('td', {}, d.is_emulator ? 'emulator' : 'QPU'), h('td', { class: 'num' }, d.max_atom_num == null ? 'no limit' : d.max_atom_num),
              h('td', {}, running), h('td', { class: 'num' }, d.average_queue_time == null ? '—' : d.average_queue_time.toFixed(1) + ' s'),
              su ? h('td', {}, action('Set ' + next, 'switch-' + d.id, next === 'DOWN' ? 'danger' : 'secondary', null, () => api('PATCH', '/devices/' + encodeURIComponent(d.id) + '/status', { status: next }))) : null);
          }))));
      poll(load, 5000);
    };
    await load();
  }

  // ---- start -------------------------------------------------------------------

  document.getElementById('signout').addEventListener('click', () => { session.clear(); deviceTypes = null; location.hash = ''; renderSignIn(); });
  document.getElementById('project').addEventListener('change', (ev) => { session.set('project', ev.target.value); listState.offset = 0; location.hash = '#/batches'; route(); });
  window.addEventListener('hashchange', route);
  window.addEventListener('error', (ev) => {
    // Browsers report skipped resize notifications as errors; they are not.
    if (/ResizeObserver loop/.test(ev.message)) return;
    showError(new Error('The console hit a bug: ' + ev.message));
  });
  window.addEventListener('unhandledrejection', (ev) => fail(ev.reason));
  route();
})();
