"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the shapes the tests
use, plus a WAL segment and a block that a real server writes. Run from the repository root with
the test venv and COMBRAY_BIN set:  python fuzz/seeds/make_seeds.py"""
import gzip
import hashlib
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import requests  # noqa: E402
import zstandard  # noqa: E402

from conftest import Combray  # noqa: E402
from otlp_payloads import json_request, one_span_request, request, span  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"


def write(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def otlp():
    trace = os.urandom(16)
    root = os.urandom(8)
    spans = [span(trace, root, attributes={"http.route": "/api"}),
             span(trace, os.urandom(8), name="SELECT", parent=root, attributes={"db.system": "postgresql"})]
    write("otlp_decode", request(spans).SerializeToString())
    write("otlp_decode", one_span_request(padding=64)[1].SerializeToString())
    write("otlp_decode", json.dumps(json_request(trace.hex())).encode())
    payload = request(spans).SerializeToString()
    write("decompress", b"\x00" + gzip.compress(payload))
    write("decompress", b"\x01" + zlib.compress(payload))
    write("decompress", b"\x02" + zstandard.ZstdCompressor().compress(payload))
    write("decompress", b"\x03" + payload)


SEGMENT = {
    "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "defdfd9912dc5a56", "name": "checkout",
    "start_time": 1_700_000_000.1, "end_time": 1_700_000_000.4, "origin": "AWS::EC2::Instance",
    "http": {"request": {"method": "GET", "url": "https://shop/cart", "client_ip": "10.0.0.1"},
             "response": {"status": 503, "content_length": 12}},
    "annotations": {"order": 42, "vip": True, "tier": "gold"}, "metadata": {"debug": {"k": [1, 2]}},
    "fault": True, "cause": {"working_directory": "/app", "exceptions": [{"id": "0c1e6c5ec1f58b4a", "message": "boom", "type": "Err"}]},
    "subsegments": [
        {"id": "53995c3f42cd8ad8", "name": "db", "namespace": "remote", "start_time": 1_700_000_000.2,
         "end_time": 1_700_000_000.3, "sql": {"url": "postgres://db", "sanitized_query": "SELECT 1"}},
        {"id": "63995c3f42cd8ad8", "name": "DynamoDB", "namespace": "aws", "start_time": 1_700_000_000.2,
         "end_time": 1_700_000_000.25, "throttle": True, "aws": {"operation": "GetItem", "table_name": "t"}},
    ],
}


def xray():
    header = b'{"format":"json","version":1}\n'
    write("xray_datagram", header + json.dumps(SEGMENT).encode())
    write("xray_datagram", header + json.dumps({**SEGMENT, "in_progress": True, "end_time": None}).encode())
    write("xray_datagram", header + json.dumps({
        "type": "subsegment", "trace_id": SEGMENT["trace_id"], "parent_id": SEGMENT["id"],
        "id": "73995c3f42cd8ad8", "name": "cache", "start_time": 1.0, "end_time": 2.0}).encode())
    for expression in ['responsetime > 5', 'service("checkout") AND duration > 90', 'annotation.order >= 40',
                       'http.status = 503 OR fault', 'edge("a", "b") { error }', '!ok AND rootcause.fault.service { name = "db" }',
                       'group.name = "slow"', 'http.url CONTAINS "cart"', 'id(name: "db", type: "remote")']:
        write("xray_filter", expression.encode())
    for query in ["SELECT count(*) FROM spans", "SELECT service, count(*) AS n FROM spans GROUP BY service",
                  'SELECT "attr.http.route", P99(duration_nano) / 1e6 FROM spans GROUP BY 1 ORDER BY 2 DESC LIMIT 5',
                  "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
                  "SELECT * FROM spans WHERE trace_id = X'5b8efff798038103d269b633813fc60c'",
                  "SELECT date_trunc('minute', start_time), approx_percentile_cont(duration_nano, 0.95) FROM spans GROUP BY 1"]:
        write("sql_plan", query.encode())


def stored():
    """A WAL segment and a block, as a real server writes them."""
    with tempfile.TemporaryDirectory() as directory:
        server = Combray(Path(directory) / "data", ["--block-max-age-seconds", "1"]).start()
        try:
            for _ in range(3):
                requests.post(f"{server.otlp_http}/v1/traces", data=one_span_request()[1].SerializeToString(),
                              headers={"content-type": "application/x-protobuf"}, timeout=10)
            segments = sorted((server.data_dir / "wal").glob("wal-*.log"))
            write("wal_replay", max(segments, key=lambda p: p.stat().st_size).read_bytes())
            deadline = time.time() + 20
            while not list((server.data_dir / "objects").rglob("meta.json")) and time.time() < deadline:
                time.sleep(0.2)
            meta = next((server.data_dir / "objects").rglob("meta.json"))
            write("block_meta", b"\x00" + meta.read_bytes())
            write("block_meta", b"\x01" + (meta.parent / "traces.idx").read_bytes())
        finally:
            server.stop()


if __name__ == "__main__":
    otlp()
    xray()
    stored()
