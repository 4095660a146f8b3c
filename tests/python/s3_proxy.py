"""A loopback HTTP proxy in front of the S3 emulator that can slow or refuse chosen requests.

One node of a two-node test talks to the emulator through it, so the test can make that node's
uploads slow (a compaction that outlives its lease) or its lease requests fail, without any
test hook in Combray itself. Requests are forwarded unchanged (moto does not check signatures).
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length", "host"}


class Rules:
    """What the proxy does to requests; the test changes these while nodes run."""

    def __init__(self):
        self.lock = threading.Lock()
        # PUT path substrings answered 403 (not retried by S3 clients).
        self.refuse_puts = []
        # (path substring, skip, seconds): PUTs matching after the first `skip` wait `seconds`.
        self.slow_puts = None
        self.seen = {}
        # Set when a slowed request arrives, so the test knows the slow work began.
        self.slowed = threading.Event()

    def verdict(self, method, path):
        """('refuse' | 'slow' | 'pass', seconds)."""
        with self.lock:
            if method != "PUT":
                return "pass", 0
            if any(part in path for part in self.refuse_puts):
                return "refuse", 0
            if self.slow_puts:
                part, skip, seconds = self.slow_puts
                if part in path:
                    self.seen[part] = self.seen.get(part, 0) + 1
                    if self.seen[part] > skip:
                        return "slow", seconds
            return "pass", 0


class S3Proxy:
    def __init__(self, upstream, port):
        self.rules = Rules()
        self.endpoint = f"http://127.0.0.1:{port}"
        rules, session = self.rules, requests.Session()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                verdict, seconds = rules.verdict(self.command, self.path)
                if verdict == "refuse":
                    self.send_response(403)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if verdict == "slow":
                    rules.slowed.set()
                    time.sleep(seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                answer = session.request(self.command, upstream + self.path, headers=headers, data=body,
                                         timeout=60, allow_redirects=False)
                content = answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                # A HEAD answer's length is the object's, which it has no body to show.
                length = answer.headers.get("content-length", "0") if self.command == "HEAD" else len(content)
                self.send_header("content-length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
