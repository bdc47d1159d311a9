"""A local webhook receiver for the tests: verifies every delivery's Standard Webhooks signature
against the secrets registered for its path, and answers per path as the test scripted it (after
`delay` seconds, for a slow receiver), counting the requests in flight per path."""
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secrets, headers, body):
    """True when one of the space-separated signatures matches one of the secrets."""
    given = headers.get("webhook-signature", "").split(" ")
    for s in secrets:
        want = sign(s, headers["webhook-id"], headers["webhook-timestamp"], body)
        if any(hmac.compare_digest(want, g) for g in given):
            return True
    return False


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.routes = {}      # path -> {"secrets": [...], "script": [status...], "default": status}
        self.got = []         # {"path", "headers", "body", "valid", "at"}, in order of arrival
        self.inflight = {}    # path -> requests being answered now
        self.max_inflight = {}
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, extra = rcv._answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                time.sleep(rcv.routes.get(self.path, {}).get("delay", 0))
                with rcv.lock:     # before the reply: the sender may start its next request on it
                    rcv.inflight[self.path] -= 1
                self._reply(status, extra)

            def _reply(self, status, extra):
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                if status in (204, 304):       # no body, or the sender's next request reads it
                    self.end_headers()
                    return
                reply = rcv.routes.get(self.path, {}).get("body", b"ok")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass      # a sender closing its connection mid-keep-alive is not news

        self.server = S(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path, secrets, script=(), default=204, headers=None, body=b"ok", delay=0):
        with self.lock:
            self.routes[path] = {"secrets": list(secrets), "script": list(script), "default": default,
                                 "headers": headers or {}, "body": body, "delay": delay}

    def add_secret(self, path, secret):
        with self.lock:
            self.routes[path]["secrets"].append(secret)

    def _answer(self, path, headers, body):
        with self.lock:
            r = self.routes.get(path, {"secrets": [], "script": [], "default": 404, "headers": {}})
            valid = verify(r["secrets"], headers, body) if "webhook-signature" in headers else False
            self.got.append({"path": path, "headers": headers, "body": body, "valid": valid,
                             "at": time.time()})
            self.inflight[path] = self.inflight.get(path, 0) + 1
            self.max_inflight[path] = max(self.max_inflight.get(path, 0), self.inflight[path])
            status = r["script"].pop(0) if r["script"] else r["default"]
            return status, (r["headers"] if status != r["default"] else {})

    def for_path(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def wait(self, path, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            got = self.for_path(path)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.for_path(path))} deliveries, wanted {n}")

    def close(self):
        self.server.shutdown()


def body_json(g):
    return json.loads(g["body"])
