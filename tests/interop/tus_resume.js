// tus_resume: tus-js-client (the reference client) uploads a file in fixed chunks through a small
// proxy that cuts the connection 1 MiB into the first PATCH past half-way (the socket is destroyed
// mid-body); a new Upload on the same URL then resumes from the server's offset.
// Prints one JSON line: {url, cutAt, resumedFrom, asset, chunksAfterResume}.
// usage: node tus_resume.js ENDPOINT API_KEY FILE CHUNK_BYTES
'use strict';
const fs = require('fs');
const http = require('http');
const tus = require('tus-js-client');

const [endpoint, key, file, chunk] = process.argv.slice(2);
const data = fs.readFileSync(file);
const target = new URL(endpoint);
let cutAt = null;

function fail(e) { console.error(String(e)); process.exit(1); }

const proxy = http.createServer((req, res) => {
  const offset = Number(req.headers['upload-offset'] || -1);
  const cut = req.method === 'PATCH' && cutAt === null && offset >= data.length / 2;
  const up = http.request({ host: target.hostname, port: target.port, method: req.method,
                            path: req.url, headers: req.headers }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => res.destroy());
  if (!cut) return req.pipe(up);
  cutAt = offset;
  let sent = 0;
  req.on('data', (b) => {
    if (sent >= 1 << 20) return;
    sent += b.length;
    up.write(b);
    if (sent >= 1 << 20) { up.destroy(); req.socket.destroy(); }
  });
});

proxy.listen(0, '127.0.0.1', () => {
  const via = `http://127.0.0.1:${proxy.address().port}${target.pathname}`;
  const common = {
    chunkSize: Number(chunk),
    retryDelays: null,
    headers: { Authorization: `Bearer ${key}` },
    metadata: { filename: 'interop.png', filetype: 'image/png' },
  };
  const first = new tus.Upload(data, Object.assign({}, common, {
    endpoint: via,
    onSuccess: () => fail('the first upload finished although it was cut'),
    onError: () => setTimeout(() => resume(first.url, common), 200),
  }));
  first.start();
});

function resume(url, common) {
  let resumedFrom = null, patches = 0, asset = null;
  const second = new tus.Upload(data, Object.assign({}, common, {
    uploadUrl: url,
    onError: fail,
    onAfterResponse: (req, res) => {
      if (req.getMethod() === 'HEAD') resumedFrom = Number(res.getHeader('Upload-Offset'));
      if (req.getMethod() === 'PATCH') {
        patches++;
        asset = res.getHeader('Atrium-Asset-Id') || asset;
      }
    },
    onSuccess: () => {
      console.log(JSON.stringify({ url, cutAt, resumedFrom, asset, chunksAfterResume: patches }));
      process.exit(0);
    },
  }));
  second.start();
}
