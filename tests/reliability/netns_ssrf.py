"""Runs inside `unshare --net` (only loopback exists, so a broken guard can reach nothing off this
machine): brings lo up, puts the refused addresses on it, listens on all of them, and runs
`atriumctl webhooks probe` for each SSRF case. Prints one JSON object: {case: result} plus the
addresses the listener actually saw connections on."""
import http.server
import json
import os
import subprocess
import sys
import threading

ATRIUMCTL = sys.argv[1]
PORT = 18999
HITS = []


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        HITS.append(self.connection.getsockname()[0])
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://10.0.0.1:{PORT}/landed")
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class V6(http.server.ThreadingHTTPServer):
    import socket
    address_family = socket.AF_INET6

    def server_bind(self):
        import socket
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)   # v4 and v4-mapped too
        super().server_bind()


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def probe(url, allow_http="1", cidrs=""):
    env = dict(os.environ, ATRIUM_HTTP_ALLOW_HTTP=allow_http, ATRIUM_HTTP_ALLOW_CIDRS=cidrs,
               ATRIUM_HTTP_CONNECT_TIMEOUT_MS="1000", ATRIUM_HTTP_TIMEOUT_MS="3000")
    p = subprocess.run([ATRIUMCTL, "webhooks", "probe", url], env=env, capture_output=True, text=True,
                       timeout=20)
    return json.loads(p.stdout) if p.returncode == 0 else {"rc": p.returncode, "stderr": p.stderr}


def main():
    sh("ip", "link", "set", "lo", "up")
    for a in ("10.0.0.1/32", "169.254.169.254/32", "100.64.0.1/32", "192.168.1.1/32"):
        sh("ip", "addr", "add", a, "dev", "lo")
    srv = V6(("::", PORT), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    u = f"http://{{}}:{PORT}/hook"
    cases = {
        "loopback_without_allowlist": probe(u.format("127.0.0.1")),
        "metadata": probe(u.format("169.254.169.254")),
        "ipv6_loopback": probe(u.format("[::1]")),
        "ipv4_mapped_loopback": probe(u.format("[::ffff:127.0.0.1]")),
        "private_10": probe(u.format("10.0.0.1")),
        "cgnat": probe(u.format("100.64.0.1")),
        "private_192_168": probe(u.format("192.168.1.1")),
        "decimal_2130706433": probe(u.format("2130706433")),
        "hostname_localhost": probe(u.format("localhost")),
        "https_only": probe(u.format("127.0.0.1"), allow_http="0", cidrs="127.0.0.0/8"),
        "redirect_to_private": probe(f"http://127.0.0.1:{PORT}/redirect", cidrs="127.0.0.1/32"),
        "control_allowlisted": probe(u.format("127.0.0.1"), cidrs="127.0.0.0/8"),
    }
    print(json.dumps({"cases": cases, "hits": HITS}))
    srv.shutdown()


main()
