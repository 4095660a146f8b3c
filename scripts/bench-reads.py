#!/usr/bin/env python3
"""Before/after timing of the read paths: two combray binaries over the same data, in one run.

usage: bench-reads.py OLD_BIN NEW_BIN [BLOCK_SPANS] [HEAD_SPANS] [ROUNDS]

The NEW binary's loadgen fills one data directory with BLOCK_SPANS spans (default 2,000,000); a
graceful stop cuts them all into blocks. Each server then starts on its own copy, on its own
ports, and receives the same HEAD_SPANS (default 100,000) spans with a fixed seed, so both hold
the same traces in blocks and in the head. ROUNDS (default 5) rounds follow; in each, every
operation runs its requests on both servers, the one that goes first alternating by round, over
one keep-alive connection per server. Both answers must agree (trace span counts, search and
SQL results), so a speed-up that changed behaviour fails the run.

Prints, per operation, the median latency of each side over all rounds and new/old as a ratio.
Loopback only; every loop is bounded.
"""
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

NOW = int(time.time())
# Every server started, so that a failed run stops them all rather than leaving one on a port.
STARTED = []
SEARCHES = {
    "search: service": {"service": "loadgen-api", "limit": "20"},
    "search: service + attribute": {
        "service": "loadgen-api", "attr.http.route": "/api/messages", "limit": "20"},
    "search: slow spans": {"min_duration": "70ms", "limit": "50"},
}
SQL = {
    "sql: group by service": "SELECT service, count(*), avg(duration_nano) FROM spans GROUP BY 1 ORDER BY 1",
    "sql: group by route": 'SELECT "attr.http.route", count(*), P99(duration_nano) FROM spans '
                           'WHERE service = \'loadgen-api\' GROUP BY 1 ORDER BY 1',
}


class Server:
    """A `combray serve` on its own data directory and ports (base, base+1, base+2, base+3)."""

    def __init__(self, binary, data_dir, base_port):
        self.binary, self.data_dir = binary, data_dir
        self.otlp = f"http://127.0.0.1:{base_port}"
        self.api = f"http://127.0.0.1:{base_port + 2}"
        ports = {"--otlp-http-addr": base_port, "--otlp-grpc-addr": base_port + 1,
                 "--api-addr": base_port + 2, "--xray-addr": base_port + 3}
        self.args = [binary, "serve", "--data-dir", data_dir]
        for flag, port in ports.items():
            self.args += [flag, f"127.0.0.1:{port}"]
        self.process = None
        self.session = requests.Session()

    def start(self):
        log = open(f"{self.data_dir}.log", "ab")
        self.process = subprocess.Popen(self.args, stderr=log, stdout=log)
        STARTED.append(self)
        for _ in range(3000):
            if self.process.poll() is not None:
                sys.exit(f"{self.binary} exited; see {self.data_dir}.log")
            try:
                if requests.get(f"{self.api}/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
        sys.exit(f"{self.binary} not ready after 60 s")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=300)

    def load(self, spans, seed, connections, ack_log=None):
        command = [NEW_BIN, "loadgen", "otlp", "--endpoint", self.otlp, "--max-spans", str(spans),
                   "--duration", "1800", "--connections", str(connections), "--seed", str(seed)]
        if ack_log:
            command += ["--ack-log", ack_log]
        report = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        # A few batches may meet a full head (503) and are not resent; the ack log only
        # names what was taken, and the trace ids are drawn from it.
        assert report["spans_acked"] >= spans * 0.95, report
        return report["spans_acked"]


def timed(session, method, url, **kwargs):
    started = time.perf_counter()
    response = session.request(method, url, timeout=120, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


def trace_lookups(trace_ids):
    def run(server):
        timings, counts = [], []
        for trace_id in trace_ids:
            elapsed, answer = timed(server.session, "GET", f"{server.api}/api/v1/traces/{trace_id}")
            timings.append(elapsed)
            counts.append(answer["span_count"])
        return timings, counts
    return run


def search(params):
    def run(server):
        timings, answers = [], []
        for _ in range(5):
            elapsed, answer = timed(server.session, "GET", f"{server.api}/api/v1/traces", params=params)
            timings.append(elapsed)
            answers.append(answer["matched"])
        return timings, answers[0]
    return run


def sql(query):
    def run(server):
        timings, rows = [], None
        for _ in range(3):
            elapsed, answer = timed(server.session, "POST", f"{server.api}/api/v1/sql", json={"sql": query})
            timings.append(elapsed)
            rows = [[round(c, -3) if isinstance(c, float) else c for c in row] for row in answer["rows"]]
        return timings, rows
    return run


def xray_summaries(expression):
    body = {"StartTime": NOW - 7200, "EndTime": NOW + 7200, "FilterExpression": expression}

    def run(server):
        timings, processed = [], None
        for _ in range(3):
            elapsed, answer = timed(server.session, "POST", f"{server.api}/TraceSummaries", json=body)
            timings.append(elapsed)
            processed = answer.get("TracesProcessedCount")
        return timings, processed
    return run


def operations(trace_ids):
    ops = {"trace by id (50 ids)": trace_lookups(trace_ids)}
    ops.update({name: search(params) for name, params in SEARCHES.items()})
    ops.update({name: sql(query) for name, query in SQL.items()})
    ops["xray: GetTraceSummaries service()"] = xray_summaries('service("loadgen-api")')
    return ops


def bench(old, new, trace_ids, rounds):
    timings = {}
    for round_number in range(rounds):
        for name, op in operations(trace_ids).items():
            sides = [("old", old), ("new", new)]
            if round_number % 2:
                sides.reverse()
            answers = {}
            for side, server in sides:
                times, answer = op(server)
                timings.setdefault(name, {"old": [], "new": []})[side] += times
                answers[side] = answer
            if answers["old"] != answers["new"]:
                sys.exit(f"{name}: the answers differ\n old: {answers['old']}\n new: {answers['new']}")
    return timings


def main():
    try:
        run()
    finally:
        for server in STARTED:
            server.stop()


def run():
    global NEW_BIN
    old_bin, NEW_BIN = sys.argv[1], sys.argv[2]
    block_spans = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000_000
    head_spans = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    work = tempfile.mkdtemp(prefix="combray-bench-reads-")
    acks = os.path.join(work, "acks.log")
    seed_dir = os.path.join(work, "seed")
    loader = Server(NEW_BIN, seed_dir, 24318)
    loader.start()
    loader.load(block_spans, seed=11, connections=4, ack_log=acks)
    loader.stop()
    if not os.listdir(os.path.join(seed_dir, "objects")):
        sys.exit("the loaded server wrote no blocks")
    old = Server(old_bin, os.path.join(work, "old"), 25318)
    new = Server(NEW_BIN, os.path.join(work, "new"), 26318)
    acked = {}
    for server in (old, new):
        shutil.copytree(seed_dir, server.data_dir)
        server.start()
        # One connection: with several, which of them sends the last batches under
        # --max-spans depends on timing, and the two heads would hold different traces.
        acked[server] = server.load(head_spans, seed=7, connections=1,
                                    ack_log=acks if server is new else None)
    if acked[old] != acked[new]:
        sys.exit(f"the head traffic differs: old took {acked[old]} spans, new {acked[new]}")
    random.seed(7)
    trace_ids = random.sample(sorted({line.split()[0] for line in open(acks)}), 50)
    timings = bench(old, new, trace_ids, rounds)
    print(f"{block_spans} spans in blocks, {head_spans} in the head, {rounds} rounds; median ms")
    print(f"{'operation':40} {'old':>9} {'new':>9} {'new/old':>8}")
    for name, sides in timings.items():
        old_ms, new_ms = statistics.median(sides["old"]), statistics.median(sides["new"])
        print(f"{name:40} {old_ms:9.2f} {new_ms:9.2f} {new_ms / old_ms:8.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
