#!/usr/bin/env node
// Drives the aggregator's dashboard in Debian's chromium (playwright-core, no browser download).
//
//   node tests/browser/dashboard.mjs --url http://127.0.0.1:PORT/ --artifacts DIR --handshake DIR
//        [--kill-node NODE] [--timeout-ms 2000]
//
// The caller runs the cluster and does the kills; the two sides meet through files in the
// handshake dir: this script writes `healthy`, waits for `killed` (written right after kill -9 of
// the etcd member on --kill-node), writes `degraded`, waits for `restarted`, writes `recovered`.
// Without --kill-node it stops after `healthy`. The last line printed is always
// `QW-BROWSER-RESULT {json}`; exit 0 only if ok.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const HARD_LIMIT_MS = 235000;  // the whole run, under the caller's 4 minutes
const started = Date.now();

function parseArgs(argv) {
  const o = { timeoutMs: 2000 };
  const names = { '--url': 'url', '--artifacts': 'artifacts', '--handshake': 'handshake', '--kill-node': 'killNode', '--timeout-ms': 'timeoutMs', '--chromium': 'chromium' };
  for (let i = 0; i < argv.length; i++) {
    const k = names[argv[i]];
    if (!k || i + 1 >= argv.length) throw new Error(`unknown or incomplete argument '${argv[i]}'`);
    o[k] = argv[++i];
  }
  o.timeoutMs = Number(o.timeoutMs);
  if (!o.url || !o.artifacts || !o.handshake) throw new Error('--url, --artifacts and --handshake are required');
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) throw new Error('--timeout-ms must be a positive number');
  o.chromium = o.chromium || process.env.QW_CHROMIUM || '/usr/bin/chromium';
  return o;
}

const result = {
  ok: false,
  error: '',
  page_bytes: null,          // document + static resources (encodedBodySize)
  page_bytes_basis: 'encodedBodySize of the navigation entry and the non-fetch resource entries',
  page_transfer_bytes: null, // the same entries' transferSize (headers included)
  api_bytes_at_first_render: null,
  resources: [],
  first_render_ms: null,
  healthy_after_ms: null,
  degraded_ms: null,         // {tolerance, card, event}
  degraded_event: null,
  scroll_width_390: null,
  recovered_after_ms: null,
  external_requests: [],
  console_errors: [],
  http_errors: [],
  screenshots: [],
  elapsed_ms: null,
};

let browser = null;
let page = null;
let opts = null;
let finished = false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(name, fullPage = true) {
  const file = path.resolve(opts.artifacts, name);
  await page.screenshot({ path: file, fullPage });
  result.screenshots.push(file);
  return file;
}

function touch(name) {
  fs.writeFileSync(path.join(opts.handshake, name), `${new Date().toISOString()}\n`);
}

// Waits for a handshake file; answers the time it appeared (its mtime when that is earlier).
async function waitFile(name, ms) {
  const file = path.join(opts.handshake, name);
  const end = Date.now() + ms;
  for (;;) {
    try {
      const st = fs.statSync(file);
      return Math.min(Date.now(), st.mtimeMs);
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`no ${file} within ${ms / 1000} s`);
    await sleep(20);
  }
}

// The page's view: state and tolerance text, every member card.
const snapshot = () => page.evaluate(() => {
  const q = (s) => document.querySelector(`[data-qw="${s}"]`);
  return {
    state: (q('state') || {}).textContent || '',
    tolerance: (q('tolerance') || {}).textContent || '',
    cards: [...document.querySelectorAll('[data-qw="member-card"]')].map((c) => ({
      node: c.dataset.node,
      member: c.dataset.member || '',
      healthy: c.dataset.healthy,
      reasons: ((c.querySelector('[data-qw="reasons"]') || {}).textContent || '').trim(),
    })),
    events: [...document.querySelectorAll('[data-qw="events"] li[data-id]')].map((li) => ({
      id: li.dataset.id, kind: li.dataset.kind || '', node: li.dataset.node || '',
      member: li.dataset.member || '', code: li.dataset.code || '', text: li.textContent || '',
    })),
  };
});

const allHealthy = (v) => v.state === 'HEALTHY' && v.tolerance === '1' && v.cards.length > 0 && v.cards.every((c) => c.healthy === 'true');

async function waitHealthy(ms, what) {
  const t0 = Date.now();
  let v;
  for (;;) {
    v = await snapshot();
    if (allHealthy(v)) return Date.now() - t0;
    if (Date.now() - t0 > ms) {
      throw new Error(`${what}: not HEALTHY with tolerance 1 and every card healthy within ${ms / 1000} s (state ${v.state}, tolerance ${v.tolerance}, cards ${v.cards.map((c) => `${c.node}=${c.healthy}`).join(' ')})`);
    }
    await sleep(100);
  }
}

// An event about the killed member: its etcd is unreachable, or the MEMBER_DOWN warning.
function refersTo(e, node, member) {
  const about = e.node === node || (member && e.member === member) ||
    new RegExp(`\\b${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(e.text);
  const kind = e.kind === 'MEMBER_UNREACHABLE' || (e.kind === 'WARNING_RAISED' && e.code === 'MEMBER_DOWN');
  return about && kind;
}

async function measurePage() {
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    return {
      nav: nav ? { name: nav.name, body: nav.encodedBodySize, transfer: nav.transferSize } : null,
      res: res.map((r) => ({ name: r.name, type: r.initiatorType, body: r.encodedBodySize, transfer: r.transferSize })),
      first: window.__qwFirstRenderMs,
    };
  });
  result.first_render_ms = typeof perf.first === 'number' ? Math.round(perf.first) : null;
  let body = perf.nav ? perf.nav.body : 0, transfer = perf.nav ? perf.nav.transfer : 0, api = 0;
  if (perf.nav) result.resources.push({ url: perf.nav.name, type: 'navigation', bytes: perf.nav.body });
  for (const r of perf.res) {
    if (r.type === 'fetch' || r.type === 'xmlhttprequest') { api += r.body; continue; }
    body += r.body;
    transfer += r.transfer;
    result.resources.push({ url: r.name, type: r.type, bytes: r.body });
  }
  result.page_bytes = body;
  result.page_transfer_bytes = transfer;
  result.api_bytes_at_first_render = api;
}

async function run() {
  opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.artifacts, { recursive: true });
  fs.mkdirSync(opts.handshake, { recursive: true });
  const origin = new URL(opts.url).origin;

  browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('request', (r) => {
    const u = r.url();
    if (/^(data|blob|about):/.test(u)) return;
    let o = '';
    try { o = new URL(u).origin; } catch { /* unparsable: external */ }
    if (o !== origin) result.external_requests.push(u);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') result.console_errors.push(m.text());
  });
  page.on('pageerror', (e) => result.console_errors.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) result.http_errors.push({ url: r.url(), status: r.status() });
  });

  // b. first render, size, healthy
  await page.goto(opts.url, { waitUntil: 'load', timeout: 20000 });
  await page.waitForFunction(() => document.documentElement.dataset.qwReady === '1', null, { timeout: 20000, polling: 50 });
  await measurePage();
  result.healthy_after_ms = await waitHealthy(30000, 'at start');
  await shot('dashboard-healthy-1280x900.png');
  const baseline = new Set((await snapshot()).events.map((e) => e.id));
  touch('healthy');
  if (!opts.killNode) return;

  // c. the kill, seen without a reload
  const node = opts.killNode;
  const t0 = await waitFile('killed', 60000);
  const seen = { tolerance: null, card: null, event: null };
  let v;
  const deadline = Math.max(opts.timeoutMs * 5, 15000);
  for (;;) {
    v = await snapshot();
    const ms = Math.round(Date.now() - t0);
    if (seen.tolerance === null && v.tolerance === '0') seen.tolerance = ms;
    const card = v.cards.find((c) => c.node === node);
    if (!card) throw new Error(`no member card with data-node="${node}" (cards: ${v.cards.map((c) => c.node).join(', ')})`);
    if (seen.card === null && card.healthy === 'false' && card.reasons) seen.card = ms;
    if (seen.event === null) {
      const e = v.events.find((x) => !baseline.has(x.id) && refersTo(x, node, card.member));
      if (e) { seen.event = ms; result.degraded_event = { kind: e.kind, code: e.code, node: e.node, member: e.member, text: e.text }; }
    }
    if (seen.tolerance !== null && seen.card !== null && seen.event !== null) break;
    if (ms > deadline) break;
    await sleep(50);
  }
  result.degraded_ms = seen;
  const missing = Object.entries(seen).filter(([, ms]) => ms === null || ms > opts.timeoutMs);
  if (missing.length) {
    throw new Error(`after the kill of ${node}'s etcd: ${missing.map(([k, ms]) => `${k} ${ms === null ? `not seen in ${deadline} ms` : `took ${ms} ms`}`).join(', ')} (budget ${opts.timeoutMs} ms; page shows state ${v.state}, tolerance ${v.tolerance})`);
  }
  await shot('dashboard-degraded-1280x900.png');
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  result.scroll_width_390 = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot('dashboard-degraded-390x844.png');
  await page.setViewportSize({ width: 1280, height: 900 });
  if (result.scroll_width_390 > 390) throw new Error(`horizontal scroll at 390 px: scrollWidth ${result.scroll_width_390}`);
  touch('degraded');

  // d. the restart
  await waitFile('restarted', 60000);
  result.recovered_after_ms = await waitHealthy(60000, 'after the restart');
  await shot('dashboard-recovered-1280x900.png');
  touch('recovered');
}

async function finish(err) {
  if (finished) return;
  finished = true;
  if (!err) {
    if (result.external_requests.length) err = new Error(`${result.external_requests.length} request(s) not to ${opts.url}`);
    else if (result.console_errors.length) err = new Error(`${result.console_errors.length} console error(s)`);
  }
  result.ok = !err;
  if (err) {
    result.error = String((err && err.message) || err);
    if (page) {
      try { await shot('dashboard-failure.png'); } catch { /* the page is gone */ }
    }
  }
  if (browser) {
    try { await Promise.race([browser.close(), sleep(5000)]); } catch { /* closed */ }
  }
  result.elapsed_ms = Date.now() - started;
  process.stdout.write(`QW-BROWSER-RESULT ${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

setTimeout(() => finish(new Error(`overall limit of ${HARD_LIMIT_MS / 1000} s reached`)), HARD_LIMIT_MS);
setTimeout(() => process.exit(1), HARD_LIMIT_MS + 10000).unref();
run().then(() => finish(null), (e) => finish(e));
