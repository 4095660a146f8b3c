#!/usr/bin/env python3
"""Browser benchmark of the web UI: headless Chromium (Playwright), performance marks.

usage: bench-ui.py [COMBRAY_BIN] [RUNS]

Starts COMBRAY_BIN (default: the release build) on free loopback ports with a fresh data
directory, sends over OTLP/HTTP the traffic of 50 services over the last ten minutes, one
10,000-span trace and one 100,000-span trace, then measures in a fresh browser context each run
(no cache, so every module and answer is fetched):

- home: navigation start to the `combray:home-drawn` mark and to the next painted frame;
- trace 10k / 100k: the same to `combray:trace-drawn`;
- scroll: the 100,000-span waterfall scrolled by 3 screens a frame for 300 frames; the longest
  and the 99th-percentile frame interval, from requestAnimationFrame timestamps.

Prints one line per figure (median over RUNS, default 5). Run with the test venv's Python
(Playwright) and Debian's chromium at /usr/bin/chromium.
"""
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/combray-target"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SERVICES = 50
TRACES_PER_SERVICE = 40


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def attribute(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export(endpoint, by_service):
    """One OTLP request per batch of spans, grouped by service as the SDKs group them."""
    body = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=Resource(attributes=[attribute("service.name", service)]), scope_spans=[ScopeSpans(spans=spans)])
        for service, spans in by_service.items()
    ]).SerializeToString()
    answer = requests.post(f"{endpoint}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    answer.raise_for_status()


def service_traffic(endpoint, rng, now_ns):
    """Each service: traces of a server span with two children, a few failing, over ten minutes."""
    for s in range(SERVICES):
        service = f"service-{s:02d}"
        spans = []
        for _ in range(TRACES_PER_SERVICE):
            trace_id, root = os.urandom(16), os.urandom(8)
            start = now_ns - rng.randrange(600 * 10**9)
            duration = int(rng.lognormvariate(3, 0.8) * 1e6)
            failed = rng.random() < 0.03
            spans.append(Span(trace_id=trace_id, span_id=root, name=f"GET /api/{s % 7}", kind=Span.SPAN_KIND_SERVER,
                              start_time_unix_nano=start, end_time_unix_nano=start + duration,
                              status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET)))
            for c in range(2):
                child_start = start + duration * c // 3
                spans.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root, name=f"db query {c}",
                                  kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=child_start,
                                  end_time_unix_nano=child_start + duration // 4))
        export(endpoint, {service: spans})


def big_trace(endpoint, rng, now_ns, count):
    """A trace of `count` spans over 20 services: a random tree, each child inside its parent."""
    trace_id = os.urandom(16)
    ids, starts, ends = [os.urandom(8)], [now_ns - 60 * 10**9], [now_ns - 30 * 10**9]
    by_service = {}
    root = Span(trace_id=trace_id, span_id=ids[0], name="GET /big", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=starts[0], end_time_unix_nano=ends[0])
    by_service.setdefault("service-00", []).append(root)
    sent = 1
    for i in range(1, count):
        parent = rng.randrange(i)
        span_len = max(1000, (ends[parent] - starts[parent]) // rng.randint(2, 6))
        start = starts[parent] + rng.randrange(max(1, ends[parent] - starts[parent] - span_len))
        ids.append(os.urandom(8))
        starts.append(start)
        ends.append(start + span_len)
        service = f"service-{rng.randrange(20):02d}"
        by_service.setdefault(service, []).append(Span(
            trace_id=trace_id, span_id=ids[i], parent_span_id=ids[parent], name=f"op-{i % 97}", kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start, end_time_unix_nano=start + span_len, attributes=[attribute("n", str(i))]))
        sent += 1
        if sent % 5000 == 0:
            export(endpoint, by_service)
            by_service = {}
    if by_service:
        export(endpoint, by_service)
    return trace_id.hex()


def wait_for_spans(api, trace_id, count):
    deadline = time.time() + 120
    while time.time() < deadline:
        answer = requests.get(f"{api}/api/v1/traces/{trace_id}", timeout=60)
        if answer.ok and answer.json()["span_count"] >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"trace {trace_id} did not reach {count} spans")


PAINTED = "() => new Promise((done) => requestAnimationFrame(() => setTimeout(() => done(performance.now()))))"
SCROLL = """async () => {
  const box = document.querySelector('[data-testid=waterfall]');
  const times = [];
  await new Promise((done) => {
    let frames = 0;
    function step(t) {
      times.push(t);
      box.scrollTop += box.clientHeight * 3;
      if (++frames < 300) requestAnimationFrame(step); else done();
    }
    requestAnimationFrame(step);
  });
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  return { max: gaps[gaps.length - 1], p99: gaps[Math.floor(gaps.length * 0.99)], frames: gaps.length };
}"""


def measure(browser, url, mark):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(f"() => performance.getEntriesByName('{mark}').length > 0", timeout=120_000)
    drawn = page.evaluate(f"() => performance.getEntriesByName('{mark}')[0].startTime")
    painted = page.evaluate(PAINTED)
    return context, page, drawn, painted


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(TARGET / "release" / "combray")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    data = tempfile.mkdtemp(prefix="combray-bench-ui-")
    ports = {name: free_port() for name in ("http", "grpc", "api", "xray")}
    server = subprocess.Popen([binary, "serve", "--data-dir", data, "--otlp-http-addr", f"127.0.0.1:{ports['http']}",
                               "--otlp-grpc-addr", f"127.0.0.1:{ports['grpc']}", "--api-addr", f"127.0.0.1:{ports['api']}",
                               "--xray-addr", f"127.0.0.1:{ports['xray']}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api, endpoint = f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['http']}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{api}/readyz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        rng = random.Random(11)
        now_ns = time.time_ns()
        service_traffic(endpoint, rng, now_ns)
        ten_k = big_trace(endpoint, rng, now_ns, 10_000)
        hundred_k = big_trace(endpoint, rng, now_ns, 100_000)
        wait_for_spans(api, ten_k, 10_000)
        wait_for_spans(api, hundred_k, 100_000)
        figures = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            for _ in range(runs):
                for name, url, mark in (("home", f"{api}/?range=15m", "combray:home-drawn"),
                                        ("trace 10k", f"{api}/trace/{ten_k}", "combray:trace-drawn"),
                                        ("trace 100k", f"{api}/trace/{hundred_k}", "combray:trace-drawn")):
                    context, page, drawn, painted = measure(browser, url, mark)
                    figures.setdefault(f"{name} drawn ms", []).append(drawn)
                    figures.setdefault(f"{name} painted ms", []).append(painted)
                    if name == "trace 100k":
                        scroll = page.evaluate(SCROLL)
                        figures.setdefault("scroll 100k max frame ms", []).append(scroll["max"])
                        figures.setdefault("scroll 100k p99 frame ms", []).append(scroll["p99"])
                    context.close()
            browser.close()
        for name, values in figures.items():
            print(f"{name}: median {statistics.median(values):.0f} (runs: {', '.join(f'{v:.0f}' for v in values)})")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
