"""End-to-end harness: runs the real `combray` binary on free loopback ports.

The binary comes from $COMBRAY_BIN (scripts/test.sh builds it and sets this).
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

BIN = os.environ.get("COMBRAY_BIN", "combray")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(Exception):
    """The server could not bind a port the harness picked."""


class Combray:
    """A running `combray serve` with its addresses and data directory."""

    def __init__(self, data_dir, extra_args=(), env=None, wrap=()):
        self.data_dir = Path(data_dir)
        # A command line the binary runs under (strace, for one test).
        self.wrap = list(wrap)
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.api_port = free_port()
        self.xray_port = free_port()
        self.process = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def otlp_http(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc(self):
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def xray(self):
        """The X-Ray daemon address: UDP segments and the TCP X-Ray API."""
        return f"127.0.0.1:{self.xray_port}"

    def keys_create(self, environment, kind):
        result = subprocess.run(
            [BIN, "keys", "create", "--env", environment, "--kind", kind, "--data-dir", str(self.data_dir)],
            check=True, capture_output=True, text=True,
        )
        return result.stdout.strip()

    def start(self):
        # A port picked as free can be taken by another process before combray binds it; then
        # pick new ports and try again.
        for _ in range(5):
            try:
                return self._start_once()
            except PortTaken:
                self.http_port, self.grpc_port, self.api_port = free_port(), free_port(), free_port()
                self.xray_port = free_port()
        return self._start_once()

    def _start_once(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.wrap, BIN, "serve", "--data-dir", str(self.data_dir),
             "--otlp-http-addr", f"127.0.0.1:{self.http_port}",
             "--otlp-grpc-addr", f"127.0.0.1:{self.grpc_port}",
             "--api-addr", f"127.0.0.1:{self.api_port}",
             "--xray-addr", f"127.0.0.1:{self.xray_port}", *self.extra_args],
            stdout=log, stderr=log, env={**os.environ, **self.env},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                if "Address already in use" in self.log()[-400:]:
                    raise PortTaken()
                raise RuntimeError(f"combray exited early:\n{self.log()}")
            try:
                if requests.get(f"{self.api}/readyz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"combray did not become ready:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self):
        """SIGKILL: no flush, no graceful shutdown."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path, key=None, **params):
        headers = {"x-honeycomb-team": key} if key else {}
        return requests.get(f"{self.api}{path}", headers=headers, params=params, timeout=10)

    def wait_for_trace(self, trace_id, key=None, min_spans=1, timeout=20):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.get(f"/api/v1/traces/{trace_id}", key=key)
            if last.status_code == 200 and last.json()["span_count"] >= min_spans:
                return last.json()
            time.sleep(0.1)
        raise AssertionError(f"trace {trace_id} not found: {last.status_code if last is not None else None} {last.text if last is not None else ''}")


@pytest.fixture
def make_combray(tmp_path):
    started = []

    def make(extra_args=(), name="data", env=None, wrap=()):
        server = Combray(tmp_path / name, extra_args, env, wrap)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def combray(make_combray):
    return make_combray().start()


class S3Emulator:
    """moto's S3 server on a loopback port, with one bucket."""

    def __init__(self, port, bucket):
        self.port = port
        self.bucket = bucket
        self.endpoint = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true",
        }

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def keys(self, prefix=""):
        listed = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def s3(tmp_path):
    import sys
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=log)
    emulator = S3Emulator(port, "combray-test")
    deadline = time.time() + 30
    while True:
        try:
            emulator.client().create_bucket(Bucket=emulator.bucket)
            break
        except Exception:
            if time.time() > deadline or moto.poll() is not None:
                moto.kill()
                raise RuntimeError((tmp_path / "moto.log").read_text())
            time.sleep(0.2)
    yield emulator
    moto.terminate()
    moto.wait(timeout=10)
