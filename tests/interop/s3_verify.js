// s3_verify: a SigV4-checking front for s3rver, which accepts any v4 signature ("unimplemented"
// in s3rver 3.7). Each request's signature (Authorization header or presigned query) is computed
// again with aws4 — an implementation independent of ours — from the known secret; a mismatch,
// an unknown key or an expired presigned URL gets 403, the rest is proxied to s3rver unchanged.
// usage: node s3_verify.js LISTEN_PORT S3RVER_PORT ACCESS_KEY [SECRET_KEY]
// (without SECRET_KEY it is read from $S3_VERIFY_SECRET, so that a service keeps it out of ps)
'use strict';
const http = require('http');
const aws4 = require('aws4');

const [listenPort, upstreamPort, accessKey, argSecret] = process.argv.slice(2);
const secretKey = argSecret || process.env.S3_VERIFY_SECRET;
if (!secretKey) { console.error('s3_verify: no secret key'); process.exit(2); }
const creds = { accessKeyId: accessKey, secretAccessKey: secretKey };
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

function deny(res, why) {
  res.writeHead(403, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>${why}</Message></Error>`);
}

function checkHeader(req) {
  const m = AUTH.exec(req.headers.authorization || '');
  if (!m) return 'malformed Authorization';
  if (m[1] !== accessKey) return 'unknown access key';
  const headers = {};
  for (const h of m[4].split(';')) headers[h] = req.headers[h] || '';
  const opts = { host: req.headers.host, path: req.url, method: req.method, service: 's3',
                 region: m[3], headers };
  aws4.sign(opts, creds);
  const want = /Signature=([0-9a-f]{64})/.exec(opts.headers.Authorization)[1];
  return want === m[5] ? null : 'SignatureDoesNotMatch';
}

function checkQuery(req, u) {
  const q = u.searchParams;
  const cred = (q.get('X-Amz-Credential') || '').split('/');
  if (cred[0] !== accessKey) return 'unknown access key';
  const date = q.get('X-Amz-Date') || '';
  const expires = Number(q.get('X-Amz-Expires'));
  const t = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8),
                     +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
  if (!(expires > 0) || Date.now() > t + expires * 1000) return 'Request has expired';
  const got = q.get('X-Amz-Signature');
  q.delete('X-Amz-Signature');
  const opts = { host: req.headers.host, path: u.pathname + '?' + q.toString(), method: req.method,
                 service: 's3', region: cred[2], signQuery: true, headers: {} };
  aws4.sign(opts, creds);
  const want = /X-Amz-Signature=([0-9a-f]{64})/.exec(opts.path)[1];
  return want === got ? null : 'SignatureDoesNotMatch';
}

http.createServer((req, res) => {
  const u = new URL(req.url, 'http://front');
  const why = u.searchParams.has('X-Amz-Signature') ? checkQuery(req, u) : checkHeader(req);
  if (why) { req.resume(); return deny(res, why); }
  const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url,
                            headers: req.headers }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => { res.writeHead(502); res.end(); });
  req.pipe(up);
}).listen(Number(listenPort), '127.0.0.1');
