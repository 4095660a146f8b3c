"""RSS of a fresh `combray serve` at its defaults under bursty, independent senders.

Two sender processes each send X-Ray datagrams in bursts (every 100 ms, RATE/10 datagrams as
fast as the socket takes them) to the daemon port, and optionally two send OTLP/HTTP batches as
fast as they are answered; the server's RSS is sampled every second from /proc. Loopback only,
bounded in time. Prints one JSON line per second and a summary.

  python scripts/bench-memory.py --seconds 60 --xray-rate 25000 [--otlp]
Needs COMBRAY_BIN (scripts/test.sh builds it) and the test venv (requests, the OTLP protos).
"""
import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from conftest import Combray  # noqa: E402


def xray_sender(address, rate, seconds, seed):
    host, port = address.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = b'{"format":"json","version":1}\n'
    burst, sent, deadline = max(1, rate // 10), 0, time.time() + seconds
    counter = seed << 40
    while time.time() < deadline:
        started = time.time()
        for _ in range(burst):
            counter += 1
            now = time.time()
            doc = ('{"trace_id":"1-%08x-%024x","id":"%016x","name":"bursty-%d","start_time":%.6f,'
                   '"end_time":%.6f,"http":{"request":{"method":"GET","url":"/x"}}}'
                   % (int(now), counter, counter, seed, now - 0.01, now))
            try:
                sock.sendto(header + doc.encode(), (host, int(port)))
                sent += 1
            except OSError:
                pass
        time.sleep(max(0.0, 0.1 - (time.time() - started)))
    return sent


def otlp_sender(endpoint, seconds, seed):
    import requests
    from otlp_payloads import request, span
    session, sent, deadline = requests.Session(), 0, time.time() + seconds
    while time.time() < deadline:
        spans = [span(os.urandom(16), os.urandom(8), attributes={"pad": "x" * 200}) for _ in range(512)]
        try:
            answer = session.post(f"{endpoint}/v1/traces", data=request(spans).SerializeToString(),
                                  headers={"content-type": "application/x-protobuf"}, timeout=30)
            sent += 512 if answer.status_code == 200 else 0
        except requests.RequestException:
            time.sleep(0.1)
    return sent


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def gauges(api):
    """The server's own view of its budgets (head, cuts, in flight, trace indexes, X-Ray's
    waiting room), in MiB."""
    import requests
    try:
        text = requests.get(f"{api}/metrics", timeout=2).text
    except requests.RequestException:
        return {}
    wanted = {"combray_head_bytes": "head_mib", "combray_cut_working_bytes": "cut_working_mib",
              "combray_ingest_inflight_bytes": "inflight_mib",
              "combray_trace_index_cache_bytes": "trace_index_mib",
              "combray_xray_waiting_bytes": "xray_waiting_mib"}
    found = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            found[wanted[name]] = found.get(wanted[name], 0.0) + float(line.rsplit(" ", 1)[1]) / 2**20
    return {key: round(value, 1) for key, value in found.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--xray-rate", type=int, default=25000, help="datagrams/s per sender")
    parser.add_argument("--otlp", action="store_true", help="two OTLP/HTTP senders as well")
    parser.add_argument("serve_args", nargs="*", help="extra `combray serve` flags (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = Combray(Path(directory) / "data", args.serve_args).start()
        pool = multiprocessing.Pool(4)
        jobs = [pool.apply_async(xray_sender, (server.xray, args.xray_rate, args.seconds, n)) for n in (1, 2)]
        if args.otlp:
            jobs += [pool.apply_async(otlp_sender, (server.otlp_http, args.seconds, n)) for n in (3, 4)]
        peak = 0.0
        for second in range(args.seconds + 5):
            rss = rss_mib(server.process.pid)
            peak = max(peak, rss)
            print(json.dumps({"second": second, "rss_mib": round(rss, 1), **gauges(server.api)}), flush=True)
            time.sleep(1)
        sent = [job.get(timeout=60) for job in jobs]
        metrics = __import__("requests").get(f"{server.api}/metrics", timeout=10).text
        server.stop()
        dropped = [l for l in metrics.splitlines() if l.startswith("combray_xray_datagrams_dropped_total")]
        print(json.dumps({"peak_rss_mib": round(peak, 1), "sent": sent, "dropped": dropped}))


if __name__ == "__main__":
    main()
