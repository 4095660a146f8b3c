#!/usr/bin/env python3
"""Times GET /api/v1/traces/{id} (no time range) for random traces from a loadgen ack log.

usage: bench-trace-lookup.py API_URL ACK_LOG [SAMPLES]
Prints p50/p99/max in milliseconds, measured over one keep-alive HTTP connection.
"""
import random
import sys
import time

import requests


def main():
    api, ack_log = sys.argv[1], sys.argv[2]
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    trace_ids = sorted({line.split()[0] for line in open(ack_log)})
    random.seed(7)
    chosen = random.sample(trace_ids, min(samples, len(trace_ids)))
    session = requests.Session()
    session.get(f"{api}/api/v1/traces/{chosen[0]}").raise_for_status()
    timings = []
    for trace_id in chosen:
        started = time.perf_counter()
        response = session.get(f"{api}/api/v1/traces/{trace_id}")
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        assert response.json()["span_count"] >= 1
    timings.sort()
    pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]
    print(f"traces={len(trace_ids)} samples={len(chosen)} p50_ms={pick(0.5):.2f} p99_ms={pick(0.99):.2f} max_ms={timings[-1]:.2f}")


if __name__ == "__main__":
    main()
