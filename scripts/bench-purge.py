"""Ingest throughput and RSS of `combray serve` at its defaults under several allocator purge
delays, measured in one run, interleaved (A B C A B C …) so the machine's drift hits each alike.

Each round starts a fresh server per setting (`MIMALLOC_PURGE_DELAY`, milliseconds; mimalloc's
own default is 1000), sends `combray loadgen otlp` at full speed for SECONDS, then leaves it idle
for IDLE seconds. It reports acknowledged spans/s (loadgen's figure), the server's peak RSS and
its RSS at the end of the idle stretch (head cut, nothing in flight), sampled from /proc every
250 ms. Loopback only, bounded in time.

  python scripts/bench-purge.py [--rounds 3] [--seconds 30] [--idle 10] [--delays 1000,100,0]
Needs COMBRAY_BIN (a release build for figures worth quoting) and the test venv.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from conftest import BIN, Combray  # noqa: E402


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.last, self.running = pid, 0.0, 0.0, True

    def run(self):
        while self.running:
            self.last = rss_mib(self.pid)
            self.peak = max(self.peak, self.last)
            time.sleep(0.25)


def one_run(delay, seconds, idle, seed):
    with tempfile.TemporaryDirectory() as directory:
        server = Combray(Path(directory) / "data", env={"MIMALLOC_PURGE_DELAY": str(delay)}).start()
        sampler = RssSampler(server.process.pid)
        sampler.start()
        load = subprocess.run(
            [BIN, "loadgen", "otlp", "--endpoint", server.otlp_http, "--duration", str(seconds),
             "--connections", "4", "--seed", str(seed)],
            check=True, capture_output=True, text=True, timeout=seconds + 120)
        report = json.loads(load.stdout)
        time.sleep(idle)
        sampler.running = False
        sampler.join()
        server.stop()
        return {"delay_ms": delay, "spans_per_s": round(report["spans_per_second_acked"]),
                "refused_requests": sum(report["rejections"].values()),
                "peak_rss_mib": round(sampler.peak), "idle_rss_mib": round(sampler.last)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--idle", type=int, default=10)
    parser.add_argument("--delays", default="1000,100,0")
    args = parser.parse_args()
    delays = [int(d) for d in args.delays.split(",")]
    runs = []
    for round_ in range(args.rounds):
        for delay in delays:
            run = one_run(delay, args.seconds, args.idle, seed=round_ + 1)
            print(json.dumps(run), flush=True)
            runs.append(run)
    base = statistics.median(r["spans_per_s"] for r in runs if r["delay_ms"] == delays[0])
    for delay in delays:
        mine = [r for r in runs if r["delay_ms"] == delay]
        rate = statistics.median(r["spans_per_s"] for r in mine)
        print(json.dumps({
            "delay_ms": delay,
            "median_spans_per_s": round(rate),
            "throughput_vs_first": round(rate / base, 3),
            "median_peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in mine),
            "median_idle_rss_mib": statistics.median(r["idle_rss_mib"] for r in mine),
        }))


if __name__ == "__main__":
    main()
