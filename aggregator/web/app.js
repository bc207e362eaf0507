// quorumwatch dashboard: polls the aggregator's JSON API and updates the DOM in place.
// No innerHTML anywhere: every API string goes through textContent (the page is served with a
// strict Content-Security-Policy: no inline script or style).
'use strict';
(() => {
  const FAST_MS = 1000;      // cluster, nodes, events
  const HIDDEN_MS = 5000;    // the same while the tab is hidden
  const SLOW_MS = 10000;     // snapshots, drills, what-if, recovery plan
  const SERIES_MS = 30000;   // sparklines
  const DASH = '—';
  const STATES = ['UNKNOWN', 'HEALTHY', 'DEGRADED', 'AT_RISK', 'CRITICAL', 'QUORUM_LOST'];
  const SEV = { CRITICAL: 3, WARNING: 2, INFO: 1 };
  const $ = (id) => document.getElementById(id);

  // Absent (unknown) stays undefined; int64 may arrive as a string.
  const num = (v) => {
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const enumName = (v, names) => (typeof v === 'number' ? names[v] : v) || names[0];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, t) {
    t = String(t);
    if (e.textContent !== t) e.textContent = t;
  }
  // A class from a closed set (tone of a value): replaces the previous one.
  function tone(e, t) {
    if (e._tone === t) return;
    if (e._tone) e.classList.remove(e._tone);
    if (t) e.classList.add(t);
    e._tone = t;
  }
  // Rebuilds a list only when what it shows changed.
  function fill(list, items, make, empty) {
    const key = JSON.stringify(items);
    if (list._k === key) return;
    list._k = key;
    const frag = document.createDocumentFragment();
    if (!items.length && empty) frag.append(el('li', 'empty', empty));
    for (const it of items) frag.append(make(it));
    list.replaceChildren(frag);
  }

  // ---- formatting -------------------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, '0');
  function fmtWhen(v) {
    const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
    if (!v || Number.isNaN(d.getTime())) return DASH;
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === new Date().toDateString()) return hms;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
  }
  function fmtSec(s) {
    s = num(s);
    if (s === undefined) return DASH;
    if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
    if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
    return `${s.toFixed(2)} s`;
  }
  function fmtBytes(b) {
    b = num(b);
    if (b === undefined) return DASH;
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return `${i ? b.toFixed(b < 10 ? 2 : 1) : b.toFixed(0)} ${u[i]}`;
  }
  function fmtAge(s) {
    s = num(s);
    if (s === undefined) return DASH;
    if (s < 90) return `${s.toFixed(0)} s`;
    if (s < 5400) return `${(s / 60).toFixed(0)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(s < 36000 && s % 3600 ? 1 : 0)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }
  function fmtProb(p) {
    p = num(p);
    if (p === undefined) return 'unknown';
    const pc = p * 100;
    if (pc === 0) return '0 %';
    if (pc < 0.0001) return '< 0.0001 %';
    return `${pc >= 1 ? pc.toFixed(1) : String(Number(pc.toPrecision(2)))} %`;
  }
  const fmtPct = (v) => (num(v) === undefined ? DASH : `${num(v).toFixed(1)} %`);
  const fmtC = (v) => (num(v) === undefined ? DASH : `${num(v).toFixed(1)} °C`);
  const fmtBool = (v) => (v === true ? 'yes' : v === false ? 'no' : 'unknown');
  const fmtShare = (v) => (num(v) === undefined ? DASH : `${(num(v) * 100).toFixed(0)} % of the time`);
  const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;

  // ---- state -------------------------------------------------------------------------------
  let cluster = null;
  let nodes = new Map();        // node name -> NodeView
  let metricNames = null;       // Set of /api/v1/metrics names, once known
  const series = new Map();     // "node|metric" -> Series (or {empty:true})
  const whatif = new Map();     // node -> WhatIf
  const cards = new Map();      // member name -> card refs
  const events = new Map();     // id -> Event
  let eventsMaxTs;              // newest event ts seen (the server's clock)
  let ready = false;
  let offlineSince = 0;
  let lastOk = 0;

  // ---- fetching ----------------------------------------------------------------------------
  async function getJSON(path, ms = 4000) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      const r = await fetch(path, { cache: 'no-store', signal: ac.signal, headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error(`HTTP ${r.status} for ${path.split('?')[0]}`);
      return await r.json();
    } finally {
      clearTimeout(timer);
    }
  }
  // At most `n` requests at once (the aggregator runs on a Pi).
  async function pool(tasks, n) {
    const run = async () => { while (tasks.length) await tasks.shift()(); };
    await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, run));
  }

  // ---- connection banner -------------------------------------------------------------------
  function online() {
    lastOk = Date.now();
    if (offlineSince || !ready) {
      offlineSince = 0;
      document.body.classList.remove('offline');
      tone($('conn'), 'ok');
    }
    setText($('conn'), 'Live: refreshed every second');
  }
  function offline(err) {
    if (!offlineSince) offlineSince = Date.now();
    document.body.classList.add('offline');
    tone($('conn'), 'down');
    const last = lastOk ? `the values below are the last received, at ${fmtWhen(lastOk / 1000)}` : 'no data received yet';
    setText($('conn'), `Aggregator unreachable since ${fmtWhen(offlineSince / 1000)} (${err && err.message ? err.message : 'no answer'}): ${last}. Retrying…`);
  }

  // ---- cluster header, risk, warnings ------------------------------------------------------
  function renderCluster(c) {
    const state = enumName(c.state, STATES);
    const st = $('state');
    setText(st, state);
    if (st._tone === undefined) st._tone = 's-UNKNOWN';
    tone(st, `s-${state}`);
    setText($('cluster'), c.cluster_name || DASH);
    document.title = `${state} · ${c.cluster_name || 'etcd'} · quorumwatch`;

    const tol = num(c.failure_tolerance);
    const known = state !== 'UNKNOWN' && tol !== undefined;
    setText($('tolerance'), known ? String(tol) : DASH);
    tone($('tolerance'), !known ? '' : tol < 0 ? 'bad' : tol === 0 ? 'warn' : 'good');
    setText($('tolwords'), !known ? 'cannot tell' : tol < 0 ? 'quorum lost' : tol === 0 ? 'no further failure tolerated' : `tolerates ${plural(tol, 'failure')}`);
    const voting = num(c.voting_members);
    setText($('healthy'), voting ? num(c.healthy_members) ?? DASH : DASH);
    setText($('voting'), voting ?? DASH);
    setText($('quorum'), voting ? num(c.quorum_size) ?? DASH : DASH);
    setText($('leader'), c.leader || 'none');
    const up = $('updated');
    setText(up, c.updated_at ? fmtWhen(c.updated_at) : DASH);
    if (c.updated_at) up.dateTime = c.updated_at; else up.removeAttribute('datetime');

    const reasons = (c.reasons || []).slice();
    for (const a of c.alarms || []) reasons.unshift(`etcd alarm ${a.alarm} raised (member ${a.member_id})`);
    for (const w of c.maintenance || []) reasons.push(`${w.node}: planned maintenance until ${fmtWhen(w.until)}${w.reason ? ` (${w.reason})` : ''}`);
    fill($('reasons'), reasons, (r) => el('li', '', r));

    setText($('prob'), fmtProb(c.quorum_loss_probability));
    const hz = num(c.horizon_seconds);
    setText($('horizon'), hz === undefined ? '' : `within ${fmtAge(hz)}`);
    const factors = (c.factors || []).slice().sort((a, b) => (num(b.multiplier) || 0) - (num(a.multiplier) || 0)).slice(0, 3);
    fill($('factors'), factors, (f) => {
      const li = el('li');
      const m = num(f.multiplier);
      li.append(el('strong', 'num', m === undefined ? '×?' : `×${m < 10 ? m.toFixed(1) : m.toFixed(0)}`), ' ');
      if (f.member) li.append(el('span', 'tag', f.member), ' ');
      li.append(f.explanation || f.signal || '');
      if (f.action) li.append(el('span', 'action', f.action));
      return li;
    }, 'No risk factors');
    const dom = c.breaking_failure_domains || [];
    setText($('domains'), dom.length ? dom.join(', ') : 'none');
    tone($('domains'), dom.length ? 'bad' : '');

    const warns = (c.warnings || []).slice().sort((a, b) => (SEV[b.severity] || 0) - (SEV[a.severity] || 0));
    fill($('warnings'), warns, (w) => {
      const li = el('li');
      li.dataset.code = w.code || '';
      li.dataset.severity = w.severity || '';
      li.append(el('span', `sev sev-${w.severity}`, w.severity || '?'), ' ');
      if (w.code) li.append(el('span', 'tag', w.code), ' ');
      if (w.expected) { li.className = 'expected'; li.append(el('span', 'tag', 'expected: maintenance'), ' '); }
      li.append(w.message || '');
      if (w.action) li.append(el('span', 'action', w.action));
      return li;
    }, 'No active warnings');
  }

  // ---- member cards ------------------------------------------------------------------------
  const NS = 'http://www.w3.org/2000/svg';
  // Rows of a card: `field` in NodeView, `metric` for the sparkline (from /api/v1/metrics).
  const ROWS = [
    { k: 'lag', label: 'Applied-index lag' },
    { k: 'wal', label: 'WAL fsync p99', metric: 'wal_fsync_seconds', agg: 'p99', field: 'wal_fsync_p99_seconds', fmt: fmtSec },
    { k: 'commit', label: 'Backend commit p99', metric: 'backend_commit_seconds', agg: 'p99', field: 'backend_commit_p99_seconds', fmt: fmtSec },
    { k: 'rtt', label: 'Peer RTT p99', metric: 'peer_rtt_p99_seconds', field: 'peer_rtt_p99_seconds', fmt: fmtSec },
    { k: 'temp', label: 'CPU temperature', metric: 'cpu_temperature_celsius', field: 'cpu_temperature_celsius', fmt: fmtC },
    { k: 'thr', label: 'Throttled', metric: 'throttled', field: 'throttled', fmt: fmtShare, bool: true },
    { k: 'uv', label: 'Under-voltage', metric: 'under_voltage', field: 'under_voltage', fmt: fmtShare, bool: true },
    { k: 'io', label: 'IO pressure', metric: 'io_pressure_some_avg10', field: 'io_pressure_some_avg10', fmt: fmtPct },
    { k: 'fs', label: 'Disk free', metric: 'fs_avail_bytes', field: 'fs_avail_bytes', fmt: fmtBytes },
    { k: 'agent', label: 'Agent' },
    { k: 'safe', label: 'Safe to stop?' },
  ];

  function makeCard(m) {
    const root = el('article', 'card');
    root.dataset.qw = 'member-card';
    const h = el('h3');
    const name = el('span', 'name');
    const node = el('span', 'node');
    const badges = el('span', 'badges');
    h.append(name, node, badges);
    const health = el('p', 'health');
    const reasons = el('ul', 'mreasons');
    reasons.dataset.qw = 'reasons';
    const dl = el('dl', 'rows');
    const rows = {};
    for (const r of ROWS) {
      const dt = el('dt', '', r.label);
      const val = el('dd', r.metric ? 'val' : 'val wide', DASH);
      const dd = el('dd', 'sp');
      let spark = null;
      if (r.metric) {
        spark = document.createElementNS(NS, 'svg');
        spark.setAttribute('class', 'spark');
        spark.setAttribute('viewBox', '0 0 100 20');
        spark.setAttribute('preserveAspectRatio', 'none');
        spark.setAttribute('role', 'img');
        spark.setAttribute('aria-label', `${r.label}, last hour: no data yet`);
        const t = document.createElementNS(NS, 'title');
        t.textContent = `${r.label}, last hour: no data yet`;
        const p = document.createElementNS(NS, 'path');
        p.setAttribute('vector-effect', 'non-scaling-stroke');
        spark.append(t, p);
        dd.append(spark);
      }
      dl.append(dt, val);
      if (spark) dl.append(dd);
      rows[r.k] = { val, spark, key: '' };
    }
    root.append(h, health, reasons, dl);
    return { root, name, node, badges, health, reasons, rows, member: m.name };
  }

  function row(card, k, text, t, why) {
    const r = card.rows[k];
    setText(r.val, text);
    tone(r.val, t || '');
    if ((r.val.title || '') !== (why || '')) r.val.title = why || '';
  }
  // Why a node cannot give a value ("thermal: no thermal zones in ..."), from unsupported[].
  const lacks = (n, what) => ((n && n.unsupported) || []).find((u) => u.startsWith(`${what}:`)) || '';

  function updateCard(card, m, leader) {
    const n = nodes.get(m.node);
    card.root.dataset.node = m.node || '';
    card.root.dataset.member = m.name || '';
    card.root.dataset.healthy = String(!!m.healthy);
    tone(card.root, m.healthy ? '' : 'unhealthy');
    setText(card.name, m.name || m.member_id || '?');
    setText(card.node, m.node ? `on ${m.node}` : 'no agent');
    const b = [];
    if (m.is_leader) b.push('leader');
    if (m.is_learner) b.push('learner');
    if (m.failure_domain) b.push(`domain ${m.failure_domain}`);
    if (((cluster && cluster.maintenance) || []).some((w) => w.node === m.node)) b.push('maintenance');
    fill(card.badges, b, (x) => el('span', `badge b-${x.split(' ')[0]}`, x));

    const reach = m.reachable === true ? 'etcd reachable' : m.reachable === false ? 'etcd unreachable' : 'reachability unknown (stale data)';
    setText(card.health, `${m.healthy ? '✓ healthy' : '✗ UNHEALTHY'} · ${reach}`);
    tone(card.health, m.healthy ? 'good' : 'bad');
    fill(card.reasons, m.reasons || [], (r) => el('li', '', r));

    const la = num(leader && leader.raft_applied_index), ma = num(m.raft_applied_index);
    if (la !== undefined && ma !== undefined) {
      const lag = la - ma;
      row(card, 'lag', `${lag} ${lag === 1 ? 'entry' : 'entries'}`, lag > 1000 ? 'bad' : lag > 100 ? 'warn' : '');
    } else row(card, 'lag', DASH);

    const v = (f) => (n ? n[f] : undefined);
    row(card, 'wal', fmtSec(v('wal_fsync_p99_seconds')));
    row(card, 'commit', fmtSec(v('backend_commit_p99_seconds')));
    row(card, 'rtt', fmtSec(v('peer_rtt_p99_seconds')));
    const t = num(v('cpu_temperature_celsius')), trip = num(v('temperature_trip_celsius'));
    row(card, 'temp', t === undefined ? 'unknown' : trip === undefined ? `${fmtC(t)} (trip unknown)` : `${fmtC(t)} / trip ${trip.toFixed(0)} °C`,
      t !== undefined && trip !== undefined ? (t >= trip ? 'bad' : trip - t <= 10 ? 'warn' : '') : '', lacks(n, 'thermal'));
    const flag = (now, boot) => [now === undefined && boot === undefined ? 'unknown' : `${fmtBool(now)} now · ${fmtBool(boot)} since boot`,
      now === true ? 'bad' : boot === true ? 'warn' : '', lacks(n, 'throttled')];
    row(card, 'thr', ...flag(v('throttled'), v('throttled_since_boot')));
    row(card, 'uv', ...flag(v('under_voltage'), v('under_voltage_since_boot')));
    const io = num(v('io_pressure_some_avg10')), iof = num(v('io_pressure_full_avg10'));
    row(card, 'io', io === undefined ? 'unknown' : `${fmtPct(io)} some · ${fmtPct(iof)} full`, io > 40 ? 'warn' : '');
    const av = num(v('fs_avail_bytes')), tot = num(v('fs_total_bytes'));
    if (av === undefined) row(card, 'fs', 'unknown');
    else if (!tot) row(card, 'fs', fmtBytes(av));
    else {
      const r = av / tot;
      row(card, 'fs', `${fmtBytes(av)} (${(r * 100).toFixed(0)} % of ${fmtBytes(tot)})`, r < 0.05 ? 'bad' : r < 0.15 ? 'warn' : '');
    }
    if (!n) row(card, 'agent', 'no agent reports this node', 'warn');
    else {
      const seen = num(n.seconds_since_seen);
      const parts = [n.connected ? 'connected' : 'DISCONNECTED', `seen ${seen === undefined ? DASH : fmtAge(seen)} ago`];
      if (n.etcd_version) parts.push(`etcd ${n.etcd_version}`);
      if (!n.etcd_reachable && n.etcd_error) parts.push(n.etcd_error);
      row(card, 'agent', parts.join(' · '), !n.connected ? 'bad' : !n.etcd_reachable ? 'warn' : '');
    }
    const w = whatif.get(m.node);
    if (!w) row(card, 'safe', DASH);
    else {
      const verdict = w.verdict || 'UNKNOWN';
      const why = (w.reasons && w.reasons[0]) || (w.advice && w.advice[0]) || '';
      row(card, 'safe', why ? `${verdict}: ${why}` : verdict, verdict === 'SAFE' ? 'good' : verdict === 'UNSAFE' ? 'bad' : 'warn');
    }
    for (const r of ROWS) if (r.metric) drawSpark(card.rows[r.k], r, series.get(`${m.node}|${r.metric}`));
  }

  function drawSpark(rowRef, r, s) {
    const svg = rowRef.spark;
    const pts = (s && s.points) || [];
    const key = pts.length ? `${pts.length}:${pts[0].ts}:${pts[pts.length - 1].ts}:${pts[pts.length - 1].value}` : (s ? 'none' : '');
    if (rowRef.key === key) return;
    rowRef.key = key;
    let label = `${r.label}, last hour: ${s ? 'no data' : 'no data yet'}`;
    let d = '';
    if (pts.length) {
      const from = num(s.from), to = num(s.to), step = num(s.step_seconds) || 60;
      let lo = Infinity, hi = -Infinity;
      for (const p of pts) { const y = num(p.value); if (y < lo) lo = y; if (y > hi) hi = y; }
      const span = to > from ? to - from : 1;
      const ylo = r.bool ? 0 : lo, yhi = r.bool ? 1 : hi;
      let prev, run = 0;
      for (const p of pts) {
        const ts = num(p.ts), y = num(p.value);
        const x = Math.max(0, Math.min(100, ((ts - from) / span) * 100));
        const yy = yhi > ylo ? 18.5 - ((y - ylo) / (yhi - ylo)) * 17 : 10;
        const gap = prev === undefined || ts - prev > step * 2.5;
        if (gap && run === 1) d += 'h1.5';
        d += `${gap ? 'M' : 'L'}${x.toFixed(1)} ${yy.toFixed(1)}`;
        run = gap ? 1 : run + 1;
        prev = ts;
      }
      if (run === 1) d += 'h1.5';
      const last = pts[pts.length - 1];
      label = `${r.label}, last hour: latest ${r.fmt(last.value)} at ${fmtWhen(num(last.ts))} (min ${r.fmt(lo)}, max ${r.fmt(hi)})`;
    }
    svg.lastChild.setAttribute('d', d);
    svg.firstChild.textContent = label;
    svg.setAttribute('aria-label', label);
  }

  function renderCards() {
    const members = ((cluster && cluster.members) || []).slice()
      .sort((a, b) => (a.node || '~').localeCompare(b.node || '~') || (a.name || '').localeCompare(b.name || ''));
    const leader = members.find((m) => m.is_leader);
    const box = $('cards');
    const seen = new Set();
    let i = 0;
    for (const m of members) {
      const key = m.member_id || m.name;
      seen.add(key);
      let card = cards.get(key);
      if (!card) { card = makeCard(m); cards.set(key, card); }
      updateCard(card, m, leader);
      if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] || null);
      i++;
    }
    for (const [k, c] of cards) if (!seen.has(k)) { c.root.remove(); cards.delete(k); }
    const memberNodes = new Set(members.map((m) => m.node));
    const orphans = [...nodes.keys()].filter((n) => !memberNodes.has(n));
    setText($('orphans'), orphans.length ? `Agents without a member in etcd's list: ${orphans.join(', ')}` : '');
  }

  // ---- events ------------------------------------------------------------------------------
  async function pollEvents() {
    // The API answers oldest first from `since`: ask from a little before the newest event seen
    // (a replayed backlog can add events with slightly older times) and keep the newest 20.
    const q = eventsMaxTs === undefined ? 'limit=1000' : `since=${(eventsMaxTs - 30).toFixed(3)}&limit=500`;
    const list = await getJSON(`api/v1/events?${q}`);
    const evs = list.events || [];
    for (const e of evs) {
      const id = num(e.id), ts = num(e.ts);
      if (id === undefined) continue;
      events.set(id, e);
      if (ts !== undefined && (eventsMaxTs === undefined || ts > eventsMaxTs)) eventsMaxTs = ts;
    }
    const newest = [...events.values()].sort((a, b) => num(b.ts) - num(a.ts) || num(b.id) - num(a.id)).slice(0, 20);
    if (events.size > 20) { events.clear(); for (const e of newest) events.set(num(e.id), e); }
    fill($('events'), newest.map((e) => [num(e.id), e.ts, e.kind, e.node, e.severity, e.message, e.code, e.member]), (a) => {
      const [id, ts, kind, node, sev, msg, code, member] = a;
      const li = el('li');
      li.dataset.id = id;
      li.dataset.kind = kind || '';
      li.dataset.node = node || '';
      if (member) li.dataset.member = member;
      if (code) li.dataset.code = code;
      const t = el('time', 'num', fmtWhen(num(ts)));
      t.dateTime = new Date(num(ts) * 1000).toISOString();
      li.append(t, ' ', el('span', `sev sev-${sev}`, sev || ''), ' ', el('span', 'tag', kind || ''), ' ');
      if (node) li.append(el('span', 'tag', node), ' ');
      li.append(msg || '');
      return li;
    }, 'No events in the last 24 h');
    // A full page means more are waiting: fetch the rest at the next tick.
    if (evs.length >= 500) eventsMaxTs = num(evs[evs.length - 1].ts) + 30;
  }

  // ---- snapshots, drills, what-if, recovery plan -------------------------------------------
  function kv(dl, pairs) {
    const key = JSON.stringify(pairs);
    if (dl._kv === key) return;
    dl._kv = key;
    const frag = document.createDocumentFragment();
    for (const [k, v, t] of pairs) {
      const dd = el('dd', t || '', v);
      frag.append(el('dt', '', k), dd);
    }
    dl.replaceChildren(frag);
  }

  function renderSnapshots(s, d) {
    const pairs = [];
    if (s) {
      const nv = s.newest_verified || '';
      const cut = nv.indexOf(':');
      const snode = cut > 0 ? nv.slice(0, cut) : '', spath = cut > 0 ? nv.slice(cut + 1) : nv;
      const file = (s.snapshots || []).find((x) => x.node === snode && x.path === spath);
      pairs.push(['Newest verified', nv ? spath : 'none', nv ? '' : 'bad']);
      if (nv) {
        const age = num(s.newest_verified_age_seconds);
        pairs.push(['Its age', age === undefined ? DASH : `${fmtAge(age)} old`]);
        let where = `on ${snode}`;
        if (file && file.disk) where += `, disk ${file.disk}`;
        const same = file && file.same_disk_as_data;
        where += same === true ? ' (the data disk: copy it off)' : same === false ? ' (not the data disk)' : '';
        pairs.push(['Lives', where, same === true ? 'warn' : '']);
      }
      pairs.push(['Files', `${num(s.verified) ?? DASH} verified · ${num(s.failing) ?? DASH} failing`, num(s.failing) ? 'warn' : '']);
      const copies = s.copies || [];
      const vc = copies.find((c) => c.verified);
      pairs.push(['Aggregator copies', copies.length ? `${copies.length}${vc ? `, newest verified ${fmtAge(vc.age_seconds)} old` : ', none verified'}` : 'none', vc ? '' : 'warn']);
      if (s.copy_error) pairs.push(['Copy error', s.copy_error, 'bad']);
      const next = s.schedule && s.schedule.next_due;
      if (next) pairs.push(['Next snapshot due', fmtWhen(next)]);
    } else pairs.push(['Snapshots', 'unknown']);
    if (d) {
      const dr = (d.drills || [])[0];
      if (!dr) pairs.push(['Last drill', 'never', 'warn']);
      else {
        const rto = num(dr.rto_ms);
        const when = fmtWhen(dr.finished_at || dr.started_at);
        let txt = `${dr.status}${dr.status === 'running' ? ` (${dr.phase || ''} ${num(dr.percent) ?? 0} %)` : ` at ${when}`}`;
        txt += ` · RTO ${rto === undefined ? DASH : rto < 10000 ? `${(rto / 1000).toFixed(1)} s` : fmtAge(rto / 1000)}`;
        pairs.push(['Last drill', txt, dr.status === 'passed' ? 'good' : dr.status === 'failed' ? 'bad' : '']);
        if (dr.status === 'failed' && dr.error) pairs.push(['Drill error', dr.error, 'bad']);
      }
    }
    kv($('snap'), pairs);
  }

  function renderPlan(p) {
    const sec = $('plan');
    if (!p) { sec.hidden = true; return; }
    sec.hidden = false;
    setText($('plan-scenario'), p.scenario || 'UNKNOWN');
    setText($('plan-summary'), p.summary || '');
    fill($('plan-guard'), p.guard_rails || [], (g) => el('li', '', g));
    fill($('plan-steps'), (p.steps || []).map((s) => [s.node, s.why, s.command, s.check, !!s.destructive]), ([node, why, cmd, check, destr]) => {
      const li = el('li');
      const head = el('p');
      if (node) head.append(el('span', 'tag', node), ' ');
      if (destr) head.append(el('span', 'sev sev-CRITICAL', 'destructive'), ' ');
      head.append(why || '');
      li.append(head);
      if (cmd) li.append(el('pre', '', cmd));
      if (check) li.append(el('p', 'sub', `check: ${check}`));
      return li;
    }, 'No steps');
  }

  const planState = (s) => s === 'CRITICAL' || s === 'QUORUM_LOST';
  let planBusy = false;
  async function pollPlan() {
    if (planBusy) return;
    const st = cluster && enumName(cluster.state, STATES);
    if (!planState(st)) { renderPlan(null); return; }
    planBusy = true;
    try { renderPlan(await getJSON('api/v1/recovery/plan', 8000)); } catch (e) { /* next round */ } finally { planBusy = false; }
  }

  let snaps = null, drills = null, slowBusy = false, slowAgain = false;
  async function slow() {
    if (slowBusy) { slowAgain = true; return; }
    slowBusy = true;
    const tasks = [
      async () => { try { snaps = await getJSON('api/v1/snapshots', 8000); } catch (e) { /* keep the last */ } },
      async () => { try { drills = await getJSON('api/v1/drills', 8000); } catch (e) { /* keep the last */ } },
      pollPlan,
    ];
    for (const m of (cluster && cluster.members) || []) {
      if (!m.node) continue;
      tasks.push(async () => {
        try { whatif.set(m.node, await getJSON(`api/v1/whatif?down=${encodeURIComponent(m.node)}`)); } catch (e) { whatif.delete(m.node); }
      });
    }
    await pool(tasks, 3);
    slowBusy = false;
    renderSnapshots(snaps, drills);
    if (cluster) renderCards();
    if (slowAgain) { slowAgain = false; setTimeout(slow, 0); }
  }

  let seriesBusy = false;
  async function loadSeries() {
    if (document.hidden || !cluster || seriesBusy) return;
    seriesBusy = true;
    try { await loadSeriesNow(); } finally { seriesBusy = false; }
  }
  async function loadSeriesNow() {
    if (!metricNames) {
      try { metricNames = new Set(((await getJSON('api/v1/metrics')).metrics || []).map((m) => m.name)); } catch (e) { return; }
    }
    const tasks = [];
    for (const m of cluster.members || []) {
      const n = nodes.get(m.node);
      if (!m.node || !n) continue;
      for (const r of ROWS) {
        if (!r.metric || !metricNames.has(r.metric)) continue;
        const key = `${m.node}|${r.metric}`;
        const had = series.get(key);
        // A node that lacks the sensor: ask once, then only once it reports a value.
        if (had && !(had.points && had.points.length) && n[r.field] === undefined) continue;
        tasks.push(async () => {
          let q = `api/v1/nodes/${encodeURIComponent(m.node)}/series?metric=${r.metric}&step=60`;
          if (r.agg) q += `&agg=${r.agg}`;
          try { series.set(key, await getJSON(q, 8000)); } catch (e) { /* keep the last */ }
        });
      }
    }
    await pool(tasks, 3);
    renderCards();
  }

  // ---- loops -------------------------------------------------------------------------------
  let fastTimer = 0, fastBusy = false;
  async function fast() {
    clearTimeout(fastTimer);
    if (fastBusy) return;
    fastBusy = true;
    const t0 = performance.now();
    const was = cluster && `${enumName(cluster.state, STATES)} ${cluster.healthy_members} ${cluster.voting_members}`;
    const ev = pollEvents().catch(() => { /* retried next tick */ });
    const [c, n] = await Promise.allSettled([getJSON('api/v1/cluster', 3000), getJSON('api/v1/nodes', 3000)]);
    if (c.status === 'fulfilled') {
      cluster = c.value;
      if (n.status === 'fulfilled') nodes = new Map(((n.value && n.value.nodes) || []).map((x) => [x.name, x]));
      online();
      renderCluster(cluster);
      renderCards();
      if (!ready) {
        ready = true;
        window.__qwFirstRenderMs = performance.now();
        document.documentElement.dataset.qwReady = '1';
        setTimeout(slow, 300);
        setTimeout(loadSeries, 1500);
      } else if (was !== `${enumName(cluster.state, STATES)} ${cluster.healthy_members} ${cluster.voting_members}`) {
        // The cluster changed: what-if answers and the plan are stale now, not in 10 s.
        for (const m of cluster.members || []) if (!m.healthy) whatif.delete(m.node);
        setTimeout(slow, 0);
      }
    } else offline(c.reason);
    await ev;
    fastBusy = false;
    const period = document.hidden ? HIDDEN_MS : FAST_MS;
    fastTimer = setTimeout(fast, Math.max(50, period - (performance.now() - t0)));
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) { fast(); loadSeries(); } });
  setInterval(() => { if (ready && !document.hidden) slow(); }, SLOW_MS);
  setInterval(() => { if (ready) loadSeries(); }, SERIES_MS);
  fast();
})();
