// upload_page: drives web/upload.html in the system Chromium with playwright-core for
// tests/browser/test_upload_page.py, and prints one JSON line of what the page did.
//
// usage: node upload_page.js '<json>' with
//   url      the page (http://127.0.0.1:PORT/upload.html?flow=ID)
//   mode     open | upload | interrupt | reload
//   field    the file field's key; file: the path to choose in it (upload, interrupt, reload)
//   chunk    the page's chunk size in bytes (interrupt, reload: which PATCH to hold or drop)
//   flow, session   optional: a session to store where the page keeps it before the page loads
//   cspControl      optional: afterwards, add an inline script (CSP must refuse it and report it)
// Every mode records: CSP violations (securitypolicyviolation), console errors, page errors, every
// request to /v1/ (method, path, Upload-Offset, Content-Length), the 4xx/5xx answers with their
// bodies, the page's progress events, and the field's final status, error and asset id.
'use strict';
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const opts = JSON.parse(process.argv[2]);
const out = { requests: [], problems: [], consoleErrors: [], pageErrors: [], events: [] };

// Runs in the page before its own scripts: listeners the page cannot see or disturb.
function initScript(preset) {
  window.__atrium = { csp: [], progress: [] };
  // a session the test started (and used up) itself, stored where the page keeps its session
  if (preset && !sessionStorage.getItem('atrium.test.preset')) {
    localStorage.setItem(preset.key, JSON.stringify(preset.session));
    sessionStorage.setItem('atrium.test.preset', '1');
  }
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__atrium.csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
  }, true);
  // the page's progress events do not bubble: a capturing listener on the document sees them
  document.addEventListener('atrium:progress', (e) => {
    const bar = e.target.querySelector('progress');
    window.__atrium.progress.push({ sent: e.detail.sent, total: e.detail.total,
                                    bar: bar ? bar.value : null, barMax: bar ? bar.max : null });
  }, true);
}

function record(page) {
  page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => out.pageErrors.push(String(e)));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith('/v1/')) return;
    const h = r.headers();
    out.requests.push({ method: r.method(), path: u.pathname, offset: h['upload-offset'] || null,
                        length: h['upload-length'] || null, contentLength: h['content-length'] || null,
                        body: r.postDataBuffer() ? r.postDataBuffer().length : 0 });
  });
  page.on('response', async (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith('/v1/')) return;
    const e = { method: r.request().method(), path: u.pathname, status: r.status(),
                offset: r.headers()['upload-offset'] || null };
    out.events.push(e);
    if (r.status() >= 400) {
      e.retryAfter = r.headers()['retry-after'] || null;
      try { e.body = await r.text(); } catch (err) { e.body = null; }
      out.problems.push(e);
    }
  });
}

async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready === '1' ||
                             !document.getElementById('page-error').hidden, null, { timeout: 30000 });
}

async function choose(page) {
  await page.setInputFiles('#field-' + opts.field, opts.file);
}

function fieldset(page) { return page.locator(`fieldset[data-field="${opts.field}"]`); }

async function waitFinal(page) {
  await page.waitForFunction((f) => {
    const s = document.querySelector(`fieldset[data-field="${f}"] .field-status`);
    return s && (s.dataset.state === 'done' || s.dataset.state === 'error');
  }, opts.field, { timeout: 180000 });
}

async function snapshot(page) {
  const a = await page.evaluate(() => window.__atrium);
  out.csp = a.csp;
  out.progress = a.progress;
  out.pageStatus = await page.locator('#page-status').textContent();
  out.pageError = await page.locator('#page-error').isHidden() ? null : await page.locator('#page-error').textContent();
  out.title = await page.locator('#title').textContent();
  if (opts.field && await fieldset(page).count()) {
    const fs = fieldset(page);
    out.rules = await fs.locator('.field-rules').textContent();
    out.accept = await fs.locator('.field-input').getAttribute('accept');
    out.state = await fs.locator('.field-status').getAttribute('data-state');
    out.status = await fs.locator('.field-status').textContent();
    out.error = await fs.locator('.field-error').isHidden() ? null : await fs.locator('.field-error').textContent();
    out.bytesText = await fs.locator('.field-bytes').textContent();
    out.asset = await fs.getAttribute('data-asset');
    out.bar = await fs.locator('.field-bar').evaluate((b) => ({ value: b.value, max: b.max }));
  }
  out.localStorage = await page.evaluate(() => Object.keys(localStorage));
}

// A route on the upload URLs that holds the PATCH at `heldAt` until release() and drops (resets)
// the connection of the PATCH at `dropAt` once; everything else goes through untouched.
function gate(page, heldAt, dropAt) {
  let release, held;
  const heldP = new Promise((r) => { held = r; });
  const releaseP = new Promise((r) => { release = r; });
  let heldOnce = false, droppedOnce = false;
  return page.route('**/v1/public/uploads/**', async (route) => {
    const r = route.request();
    const off = Number(r.headers()['upload-offset']);
    if (r.method() === 'PATCH' && off === heldAt && !heldOnce) {
      heldOnce = true;
      held();
      await releaseP;
      await route.abort('aborted').catch(() => {});
      return;
    }
    if (r.method() === 'PATCH' && off === dropAt && !droppedOnce) {
      droppedOnce = true;
      out.dropped = off;
      await route.abort('connectionreset').catch(() => {});
      return;
    }
    await route.continue().catch(() => {});
  }).then(() => ({ held: heldP, release }));
}

// p, or an error naming what did not happen within ms (a missing request must not hang the test).
async function within(p, ms, what) {
  let t;
  const late = new Promise((resolve, reject) => { t = setTimeout(() => reject(new Error(what)), ms); });
  try { return await Promise.race([p, late]); } finally { clearTimeout(t); }
}

async function run(page) {
  await page.goto(opts.url);
  await waitReady(page);
  if (opts.mode === 'open') return;
  if (opts.mode === 'upload') {
    await choose(page);
    await waitFinal(page);
    return;
  }
  const g = await gate(page, opts.chunk, opts.mode === 'interrupt' ? 2 * opts.chunk : -1);
  await choose(page);
  await within(g.held, 60000, `the page sent no PATCH at offset ${opts.chunk} within 60 s`);
  if (opts.mode === 'interrupt') {
    // Pause while the second chunk is in flight, check the page says so, then Resume
    await fieldset(page).locator('.field-pause').click();
    g.release();
    out.pausedState = await fieldset(page).locator('.field-status').getAttribute('data-state');
    out.resumeVisible = await fieldset(page).locator('.field-resume').isVisible();
    out.requestsAtPause = out.requests.length;
    await fieldset(page).locator('.field-resume').click();
  } else {
    // reload: the page goes away mid-chunk; the same file chosen again resumes from the server
    out.storedBeforeReload = await page.evaluate(() => Object.keys(localStorage));
    out.requestsBeforeReload = out.requests.length;
    await page.reload();
    g.release();
    await waitReady(page);
    await choose(page);
  }
  await waitFinal(page);
}

(async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext();
    await context.addInitScript(initScript, opts.session
      ? { key: 'atrium.upload.session.' + opts.flow, session: opts.session } : null);
    const page = await context.newPage();
    record(page);
    await run(page);
    await snapshot(page);
    if (opts.cspControl) {
      // control: an inline script must be refused, and the listener must see it (what the
      // control causes is reported apart from what the page did)
      const before = out.consoleErrors.length;
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true;';
        document.body.appendChild(s);
      });
      await page.waitForFunction(() => window.__atrium.csp.length > 0, null, { timeout: 10000 })
        .catch(() => {});
      out.controlCsp = await page.evaluate(() => ({ csp: window.__atrium.csp, ran: !!window.__inlineRan }));
      out.controlConsole = out.consoleErrors.splice(before);
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stdout.write(JSON.stringify(Object.assign(out, { fatal: String(e && e.stack || e) })) + '\n');
  process.exit(1);
});
