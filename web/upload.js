// upload.js: the end user's upload page for a published flow (upload.html?flow=<id>). It starts an
// upload session (POST /v1/public/flows/{id}/sessions), shows each file field with its accepted
// types and size limit, and sends each chosen file with tus (tus-js-client, /vendor/tus.min.js) in
// 8 MiB chunks to the session's upload URL. No framework, no inline script or style (the page's
// CSP allows scripts and styles from 'self' only).
'use strict';

(function () {
  const CHUNK = 8 * 1024 * 1024;              // DESIGN §6: 8–50 MiB; nginx caps a chunk at 50 MiB
  const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
  const SESSION_KEY = 'atrium.upload.session.';
  const SESSION_MARGIN_MS = 5 * 60 * 1000;    // a stored session this close to expiry is not reused
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  const $ = (id) => document.getElementById(id);

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' MiB';
    return (n / 1024 / 1024 / 1024).toFixed(2) + ' GiB';
  }

  function showPageError(text) {
    $('page-status').textContent = '';
    $('page-error').textContent = text;
    $('page-error').hidden = false;
  }

  // The message of a problem+json body (RFC 9457): its detail, else its title, else the status.
  function problemText(status, body) {
    try {
      const p = JSON.parse(body);
      if (p && typeof p.detail === 'string' && p.detail) return p.detail;
      if (p && typeof p.title === 'string' && p.title) return p.title;
    } catch (e) { /* not JSON: fall through */ }
    return 'the server answered ' + status;
  }

  // Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); 1 when absent.
  function retryAfterSeconds(value) {
    if (!value) return 1;
    if (/^\d+$/.test(value.trim())) return Math.max(1, parseInt(value, 10));
    const t = Date.parse(value);
    return Number.isNaN(t) ? 1 : Math.max(1, Math.ceil((t - Date.now()) / 1000));
  }

  // Calls done() after `seconds`, showing the time left in el each second.
  function countdown(el, prefix, seconds, done) {
    let left = seconds;
    const tick = () => {
      if (left <= 0) { done(); return; }
      el.textContent = prefix + ' Trying again in ' + left + ' s.';
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }

  // --- the session ----------------------------------------------------------------------------

  function storedSession(flow) {
    try {
      const s = JSON.parse(localStorage.getItem(SESSION_KEY + flow));
      if (s && s.token && Date.parse(s.expires_at) - Date.now() > SESSION_MARGIN_MS) return s;
    } catch (e) { /* no storage, or a damaged entry: start a new session */ }
    return null;
  }

  function storeSession(flow, s) {
    try { localStorage.setItem(SESSION_KEY + flow, JSON.stringify(s)); } catch (e) { /* private mode */ }
  }

  // The session of this flow: the stored one while it lasts (so an interrupted upload resumes
  // after a reload), else a new one. A 429 is waited out; any other error ends in the message.
  async function startSession(flow) {
    const kept = storedSession(flow);
    if (kept) return kept;
    for (;;) {
      const r = await fetch('/v1/public/flows/' + encodeURIComponent(flow) + '/sessions',
                            { method: 'POST', headers: { Accept: 'application/json' } });
      const body = await r.text();
      if (r.status === 201) {
        const s = JSON.parse(body);
        storeSession(flow, s);
        return s;
      }
      if (r.status !== 429) throw new Error(problemText(r.status, body));
      await new Promise((resolve) => countdown($('page-status'), problemText(429, body) + '.',
                                               retryAfterSeconds(r.headers.get('Retry-After')), resolve));
    }
  }

  async function flowName(flow) {
    const r = await fetch('/v1/public/flows/' + encodeURIComponent(flow), { headers: { Accept: 'application/json' } });
    const body = await r.text();
    if (!r.ok) throw new Error(problemText(r.status, body));
    const f = JSON.parse(body);
    return typeof f.name === 'string' ? f.name : '';
  }

  // --- one file field -------------------------------------------------------------------------

  function acceptText(accept) {
    return (accept || []).map((a) => a.replace(/^application\//, '').replace(/^image\/\*$/, 'images')
      .replace(/^video\/\*$/, 'videos').replace(/^audio\/\*$/, 'audio')).join(', ');
  }

  class FieldUpload {
    constructor(session, field, node) {
      this.session = session;
      this.field = field;
      this.upload = null;
      this.el = {
        root: node,
        input: node.querySelector('.field-input'),
        progress: node.querySelector('.field-progress'),
        bar: node.querySelector('.field-bar'),
        bytes: node.querySelector('.field-bytes'),
        pause: node.querySelector('.field-pause'),
        resume: node.querySelector('.field-resume'),
        status: node.querySelector('.field-status'),
        error: node.querySelector('.field-error'),
      };
      this.render();
      this.el.input.addEventListener('change', () => this.choose());
      this.el.pause.addEventListener('click', () => this.pause());
      this.el.resume.addEventListener('click', () => this.resume());
      window.addEventListener('online', () => { if (this.offline) this.resume(); });
    }

    render() {
      const f = this.field, id = 'field-' + f.key;
      this.el.root.dataset.field = f.key;
      this.el.root.querySelector('.field-label').textContent = f.label || f.key;
      this.el.input.id = id;
      this.el.input.name = f.key;
      this.el.input.setAttribute('aria-describedby', id + '-rules');
      if (f.accept && f.accept.length) this.el.input.accept = f.accept.join(',');
      const rules = this.el.root.querySelector('.field-rules');
      rules.id = id + '-rules';
      rules.textContent = 'Accepted: ' + acceptText(f.accept) + '. Largest file: ' + formatBytes(f.max_size) + '.';
    }

    setStatus(text) { this.el.status.textContent = text; }

    setError(text) {
      this.el.error.textContent = text;
      this.el.error.hidden = !text;
    }

    buttons(running) {
      this.el.pause.hidden = !running;
      this.el.resume.hidden = running;
    }

    // A file was chosen: a new upload replaces any earlier one of this field.
    choose() {
      const file = this.el.input.files[0];
      if (!file) return;
      if (this.upload) this.upload.abort();
      this.setError('');
      this.offline = false;
      this.el.bar.value = 0;
      this.el.bar.max = file.size || 1;
      this.el.bytes.textContent = '';
      this.el.progress.hidden = false;
      this.upload = new tus.Upload(file, this.options(file));
      this.setStatus('Starting the upload of ' + file.name + '…');
      this.buttons(true);
      this.upload.findPreviousUploads().then((previous) => {
        if (previous.length) {
          this.upload.resumeFromPreviousUpload(previous[0]);
          this.setStatus('Resuming the upload of ' + file.name + '…');
        }
        this.upload.start();
      });
    }

    options(file) {
      const s = this.session, key = this.field.key;
      return {
        endpoint: new URL(s.upload_url, window.location.href).href,
        chunkSize: CHUNK,
        retryDelays: RETRY_DELAYS,
        headers: { Authorization: 'Bearer ' + s.token },
        metadata: { filename: file.name, filetype: file.type || 'application/octet-stream', field: key },
        // one entry per session, field and file in localStorage: a reload resumes it
        fingerprint: (f) => Promise.resolve(['atrium', s.id, key, f.name, f.type, f.size, f.lastModified].join('/')),
        removeFingerprintOnSuccess: true,
        onProgress: (sent, total) => this.progress(sent, total),
        onShouldRetry: (err, attempt) => this.shouldRetry(err, attempt),
        onSuccess: (payload) => this.done(file, payload),
        onError: (err) => this.failed(err),
      };
    }

    progress(sent, total) {
      const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
      this.el.bar.max = total || 1;
      this.el.bar.value = sent;
      this.el.bytes.textContent = formatBytes(sent) + ' of ' + formatBytes(total) + ' (' + pct + ' %)';
      this.el.root.dispatchEvent(new CustomEvent('atrium:progress', { detail: { sent, total } }));
      if (this.el.status.dataset.state !== 'uploading') {
        this.el.status.dataset.state = 'uploading';
        this.setStatus('Uploading…');
      }
    }

    // tus-js-client's own rule (network errors, 5xx, 409, 423 while online), made visible.
    shouldRetry(err, attempt) {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      const retry = (!(status >= 400 && status < 500) || status === 409 || status === 423) && navigator.onLine;
      if (retry) {
        this.el.status.dataset.state = 'retrying';
        this.setStatus('The connection was interrupted; resuming (attempt ' + (attempt + 1) + ')…');
      }
      return retry;
    }

    done(file, payload) {
      const res = payload && payload.lastResponse;
      const asset = res ? res.getHeader('Atrium-Asset-Id') : null;
      this.el.bar.value = this.el.bar.max;
      this.el.status.dataset.state = 'done';
      this.setStatus('Upload complete: ' + file.name + ' (' + formatBytes(file.size) + ').' +
                     (asset ? ' Reference: ' + asset + '.' : ''));
      if (asset) this.el.root.dataset.asset = asset;
      this.el.pause.hidden = true;
      this.el.resume.hidden = true;
    }

    failed(err) {
      const res = err.originalResponse;
      this.el.status.dataset.state = 'error';
      this.buttons(false);
      if (!res || res.getStatus() === 0) {
        this.offline = !navigator.onLine;
        this.setStatus('');
        this.setError('The connection to the server was lost. ' + (this.offline
          ? 'The upload resumes when you are back online.' : 'Choose Resume to carry on.'));
        return;
      }
      const status = res.getStatus(), text = problemText(status, res.getBody());
      if (status === 429 || status === 503 || status === 507) {
        const wait = retryAfterSeconds(res.getHeader('Retry-After'));
        this.setStatus('');
        this.setError(text + ' (wait ' + wait + ' s)');
        countdown(this.el.status, 'Too busy right now.', wait, () => this.resume());
        return;
      }
      if (status === 401) {
        // the session ended (expired, or its key rotated): the next page load starts a new one
        try { localStorage.removeItem(SESSION_KEY + this.session.flow_id); } catch (e) { /* none */ }
      }
      this.setStatus('');
      this.setError(status === 401 ? text + ' Reload the page to start again.' : text);
      this.el.resume.hidden = true;
    }

    pause() {
      if (!this.upload) return;
      this.upload.abort();
      this.buttons(false);
      this.el.status.dataset.state = 'paused';
      this.setStatus('Paused. Choose Resume to carry on.');
    }

    resume() {
      if (!this.upload) return;
      this.offline = false;
      this.setError('');
      this.buttons(true);
      this.el.status.dataset.state = 'resuming';
      this.setStatus('Resuming…');
      this.upload.start();
    }
  }

  // --- the page -------------------------------------------------------------------------------

  async function main() {
    const flow = new URLSearchParams(window.location.search).get('flow');
    if (typeof tus === 'undefined' || !tus.isSupported) {
      showPageError('This browser cannot upload files here (the upload library did not load).');
      return;
    }
    if (!flow || !UUID.test(flow)) {
      showPageError('This page needs the id of a published flow: upload.html?flow=<flow id>.');
      return;
    }
    try {
      const name = await flowName(flow);
      if (name) {
        $('title').textContent = name;
        document.title = name + ' – upload files';
      }
      $('page-status').textContent = 'Starting an upload session…';
      const s = await startSession(flow);
      const fields = (s.limits && s.limits.fields) || [];
      const form = $('fields'), tpl = $('field-template');
      if (!fields.length) {
        showPageError('This flow has no file fields.');
        return;
      }
      for (const f of fields) {
        const node = tpl.content.firstElementChild.cloneNode(true);
        form.appendChild(node);
        new FieldUpload(s, f, node);
      }
      $('session-limits').textContent = 'Up to ' + s.limits.max_files + ' files and ' +
        formatBytes(s.limits.max_total_bytes) + ' in all.';
      $('session-limits').hidden = false;
      form.hidden = false;
      $('page-status').textContent = 'Ready.';
      document.body.dataset.ready = '1';
    } catch (e) {
      showPageError(e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', main);
})();
