"""Local fake providers for the integration actions: Google OAuth + Sheets, Intercom, Canvas and a
plain HTTP receiver. Each checks what it receives the way the real API would (the Google token
endpoint verifies the RS256 JWT with the service account's public key; Sheets accepts only the
bearer token that endpoint issued) and records every request, and every violation, for the tests.

    fakes = Fakes(port); fakes.start(); ...; fakes.stop()
"""
import base64
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def service_account(email="atrium-test@project.iam.gserviceaccount.com"):
    """A fresh RSA key as a Google service-account JSON key, and its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sa = {"type": "service_account", "project_id": "project", "private_key_id": secrets.token_hex(8),
          "private_key": pem, "client_email": email, "client_id": "1",
          "token_uri": "https://oauth2.googleapis.com/token"}
    return sa, key.public_key()


class Fakes:
    def __init__(self, port):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.lock = threading.Lock()
        self.requests = []        # (service, method, path, headers, body)
        self.violations = []      # what a real provider would have refused
        self.google_keys = {}     # client_email -> public key
        self.tokens = {}          # issued access token -> client_email
        self.sheets = {}          # (spreadsheet, range) -> rows
        self.intercom_token = None
        self.contacts = {}        # id -> contact
        self.intercom_events = []
        self.canvas_token = None
        self.grades = []
        self.fail_plan = {}       # path -> remaining failures (503)
        self.delay_plan = {}      # path -> seconds to hold the next request
        self.server = None

    # -- control --------------------------------------------------------------------------------

    def start(self):
        fakes = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, out = fakes.handle(self.command, self.path, dict(self.headers), body)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def fail_next(self, path, times):
        with self.lock:
            self.fail_plan[path] = times

    def delay_next(self, path, seconds):
        with self.lock:
            self.delay_plan[path] = seconds

    def seen(self, service):
        with self.lock:
            return [r for r in self.requests if r[0] == service]

    def wait_for(self, pred, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.1)
        return False

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, method, path, headers, body):
        u = urllib.parse.urlsplit(path)
        service = u.path.split("/")[1] if u.path.count("/") >= 1 else ""
        with self.lock:
            self.requests.append((service, method, path, headers, body))
            left = self.fail_plan.get(u.path, 0)
            if left > 0:
                self.fail_plan[u.path] = left - 1
                return 503, {"error": "planned failure"}
            delay = self.delay_plan.pop(u.path, 0)
        if delay:
            time.sleep(delay)
        route = {"google": self.google, "sheets": self.sheets_api, "intercom": self.intercom,
                 "canvas": self.canvas, "http": self.http}.get(service)
        if route is None:
            return 404, {"error": "no such fake"}
        with self.lock:
            return route(method, u, headers, body)

    def violation(self, status, why):
        self.violations.append(why)
        return status, {"error": why}

    @staticmethod
    def bearer(headers):
        a = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        return a[7:] if a.startswith("Bearer ") else None

    # -- Google OAuth (RFC 7523 JWT bearer) and Sheets values.append ------------------------------

    def google(self, method, u, headers, body):
        if method != "POST" or u.path != "/google/token":
            return self.violation(404, f"google: unexpected {method} {u.path}")
        form = urllib.parse.parse_qs(body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.violation(400, "google: wrong grant_type")
        try:
            h, c, s = form["assertion"][0].split(".")
            header, claims = json.loads(b64url_decode(h)), json.loads(b64url_decode(c))
        except Exception:  # noqa: BLE001 - any malformed assertion is a violation
            return self.violation(400, "google: malformed assertion")
        if header != {"alg": "RS256", "typ": "JWT"}:
            return self.violation(400, f"google: header {header}")
        pub = self.google_keys.get(claims.get("iss"))
        if pub is None:
            return self.violation(401, "google: unknown service account")
        try:
            pub.verify(b64url_decode(s), f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001
            return self.violation(401, "google: bad JWT signature")
        now = time.time()
        if claims.get("aud") != self.base + "/google/token" or \
                claims.get("scope") != "https://www.googleapis.com/auth/spreadsheets" or \
                not (claims.get("iat", 0) <= now + 60 and claims.get("exp", 0) > now and
                     claims["exp"] - claims["iat"] <= 3600):
            return self.violation(400, f"google: bad claims {claims}")
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens[token] = claims["iss"]
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def sheets_api(self, method, u, headers, body):
        parts = u.path.split("/")   # /sheets/v4/spreadsheets/<id>/values/<range>:append
        if method != "POST" or len(parts) != 7 or parts[2:4] != ["v4", "spreadsheets"] or \
                not parts[6].endswith(":append"):
            return self.violation(404, f"sheets: unexpected {method} {u.path}")
        if self.bearer(headers) not in self.tokens:
            return self.violation(401, "sheets: bearer token not issued by the token endpoint")
        q = urllib.parse.parse_qs(u.query)
        if q.get("valueInputOption") != ["RAW"]:
            return self.violation(400, "sheets: valueInputOption must be RAW")
        values = json.loads(body)["values"]
        key = (urllib.parse.unquote(parts[4]), urllib.parse.unquote(parts[6][:-len(":append")]))
        self.sheets.setdefault(key, []).extend(values)
        return 200, {"spreadsheetId": key[0], "updates": {"updatedRows": len(values)}}

    # -- Intercom ------------------------------------------------------------------------------

    def intercom(self, method, u, headers, body):
        if self.bearer(headers) != self.intercom_token:
            return self.violation(401, "intercom: wrong access token")
        data = json.loads(body) if body else {}
        p = u.path[len("/intercom"):]
        if method == "POST" and p == "/contacts/search":
            q = data["query"]
            hits = [c for c in self.contacts.values() if q["field"] == "email" and c["email"] == q["value"]]
            return 200, {"type": "list", "data": hits, "total_count": len(hits)}
        if method == "POST" and p == "/contacts":
            if any(c["email"] == data.get("email") for c in self.contacts.values()):
                return self.violation(409, "intercom: contact exists (should have been found)")
            cid = secrets.token_hex(12)
            self.contacts[cid] = {"type": "contact", "id": cid, **data}
            return 200, self.contacts[cid]
        if method == "PUT" and p.startswith("/contacts/"):
            cid = p.split("/")[2]
            if cid not in self.contacts:
                return self.violation(404, "intercom: no such contact")
            self.contacts[cid].update(data)
            return 200, self.contacts[cid]
        if method == "POST" and p == "/events":
            if data.get("id") not in self.contacts or not data.get("event_name"):
                return self.violation(400, "intercom: event without a known contact or name")
            self.intercom_events.append(data)
            return 202, {}
        return self.violation(404, f"intercom: unexpected {method} {p}")

    # -- Canvas --------------------------------------------------------------------------------

    def canvas(self, method, u, headers, body):
        parts = u.path.split("/")   # /canvas/api/v1/courses/<c>/assignments/<a>/submissions/<u>
        if method != "PUT" or len(parts) != 10 or parts[2:5] != ["api", "v1", "courses"] or \
                parts[6] != "assignments" or parts[8] != "submissions":
            return self.violation(404, f"canvas: unexpected {method} {u.path}")
        if self.bearer(headers) != self.canvas_token:
            return self.violation(401, "canvas: wrong API token")
        sub = json.loads(body).get("submission", {})
        self.grades.append({"course": parts[5], "assignment": parts[7],
                            "user": urllib.parse.unquote(parts[9]), "grade": sub.get("posted_grade")})
        return 200, {"id": 1, "grade": sub.get("posted_grade"), "workflow_state": "graded"}

    # -- plain HTTP receiver --------------------------------------------------------------------

    def http(self, method, u, headers, body):
        if method != "POST":
            return self.violation(405, "http: POST expected")
        try:
            json.loads(body)
        except ValueError:
            return self.violation(400, "http: body is not JSON")
        return 200, {"ok": True}
