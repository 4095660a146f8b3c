"""kill -9 at random moments under sustained OTLP and X-Ray load, with cuts and compaction
running, and after every restart: every acknowledged span back, none twice.

The OTLP load generator logs each span it got an acknowledgement for; X-Ray UDP traffic (never
acknowledged) runs beside it so the kill also lands among assembler flushes. `run()` is what the
short test in the suite and `scripts/crash-loop.sh` (the long run) both call.
"""
import collections
import random
import subprocess
import time
from pathlib import Path

import requests

from conftest import BIN, Combray

QUICK = ["--block-max-bytes", "2000000", "--block-max-age-seconds", "1", "--block-poll-seconds", "1",
         "--sql-max-rows", "5000000"]


def stored_spans(server):
    """(trace_id, span_id) -> copies, of every stored span, through SQL."""
    answer = requests.post(f"{server.api}/api/v1/sql", timeout=120, json={
        "sql": "SELECT trace_id, span_id, count(*) FROM spans GROUP BY trace_id, span_id"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert not body["truncated"]
    return {(trace, span): copies for trace, span, copies in body["rows"]}


def acknowledged(logs):
    spans = set()
    for log in logs:
        if log.exists():
            spans.update(tuple(line.split()) for line in log.read_text().splitlines() if line)
    return spans


def run(work_dir, cycles, seconds=4.0, rate=8000, seed=None):
    """Returns the figures of the run; raises AssertionError on any loss or duplicate."""
    chance = random.Random(seed)
    work_dir = Path(work_dir)
    logs, figures = [], collections.Counter()
    server = Combray(work_dir / "data", QUICK).start()
    try:
        for cycle in range(cycles):
            log = work_dir / f"acks-{cycle}.log"
            logs.append(log)
            otlp = subprocess.Popen(
                [BIN, "loadgen", "otlp", "--endpoint", server.otlp_http, "--rate", str(rate),
                 "--duration", str(seconds), "--connections", "4", "--batch-size", "64",
                 "--seed", str(1000 + cycle), "--ack-log", str(log)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            xray = subprocess.Popen(
                [BIN, "loadgen", "xray", "--address", server.xray, "--rate", str(rate // 4),
                 "--duration", str(seconds), "--seed", str(2000 + cycle)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(chance.uniform(0.5, seconds - 0.5))
            server.kill()
            otlp.communicate(timeout=60)
            xray.wait(timeout=60)
            server = Combray(work_dir / "data", QUICK).start()
            stored = stored_spans(server)
            wanted = acknowledged(logs)
            lost = wanted - stored.keys()
            twice = {key: copies for key, copies in stored.items() if copies > 1}
            figures["cycles"] += 1
            figures["acknowledged"] = len(wanted)
            figures["stored"] = len(stored)
            assert not lost, f"cycle {cycle}: {len(lost)} acknowledged spans lost, e.g. {sorted(lost)[:3]}"
            assert not twice, f"cycle {cycle}: {len(twice)} spans stored twice, e.g. {sorted(twice)[:3]}"
        log_text = server.log()
        figures["cuts"] = log_text.count("head cut into blocks")
        figures["compactions"] = log_text.count("compacted blocks")
    finally:
        server.stop()
    figures["lost"] = 0
    figures["duplicated"] = 0
    return dict(figures)


if __name__ == "__main__":
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rate", type=int, default=20000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(json.dumps(run(directory, arguments.cycles, arguments.seconds, arguments.rate)))
