"""Acknowledged spans survive `kill -9`; a WAL with a torn tail still starts."""
import collections
import json
import subprocess
import time
from pathlib import Path

from conftest import BIN, Combray
from otlp_payloads import one_span_request

import requests


def acked_spans(ack_log):
    by_trace = collections.defaultdict(set)
    for line in Path(ack_log).read_text().splitlines():
        trace_id, span_id = line.split()
        by_trace[trace_id].add(span_id)
    return by_trace


def assert_all_readable(combray, by_trace):
    for trace_id, span_ids in by_trace.items():
        response = combray.get(f"/api/v1/traces/{trace_id}")
        assert response.status_code == 200, f"acknowledged trace {trace_id} lost"
        stored = {span["span_id"] for span in response.json()["spans"]}
        missing = span_ids - stored
        assert not missing, f"acknowledged spans lost from {trace_id}: {sorted(missing)[:5]}"


def test_spans_acknowledged_before_kill_9_are_all_returned(make_combray, tmp_path):
    # Small, frequent cuts and maintenance passes, so the kill lands while blocks are being
    # written, compacted and the WAL truncated.
    quick = ["--block-max-bytes", "2000000", "--block-max-age-seconds", "1", "--block-poll-seconds", "1"]
    combray = make_combray(quick).start()
    ack_log = tmp_path / "acks.log"
    loadgen = subprocess.Popen(
        [BIN, "loadgen", "otlp", "--endpoint", combray.otlp_http, "--rate", "20000", "--duration", "6",
         "--connections", "4", "--batch-size", "128", "--ack-log", str(ack_log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 10
    while (not ack_log.exists() or ack_log.stat().st_size < 3_000_000) and time.time() < deadline:
        time.sleep(0.05)
    combray.kill()
    output, errors = loadgen.communicate(timeout=30)
    assert loadgen.returncode == 0, errors
    by_trace = acked_spans(ack_log)
    assert sum(len(spans) for spans in by_trace.values()) > 2_000, output

    restarted = Combray(combray.data_dir, quick).start()
    try:
        assert_all_readable(restarted, by_trace)
        services = restarted.get("/api/v1/services").json()["services"]
        assert services and all(s.startswith("loadgen-") for s in services), "synthetic names"
        # Let compaction run on the restarted node, then check a sample again.
        time.sleep(3)
        sample_ids = sorted(by_trace)[:300]
        assert_all_readable(restarted, {trace_id: by_trace[trace_id] for trace_id in sample_ids})
        # Exactly once: no acknowledged span is stored twice across blocks and the WAL.
        sample = list(by_trace)[:200]
        for trace_id in sample:
            spans = restarted.get(f"/api/v1/traces/{trace_id}").json()["spans"]
            assert len(spans) == len({s["span_id"] for s in spans})
        hits = restarted.get("/api/v1/traces", limit="1000").json()["traces"]
        assert all(hit["span_count"] <= 7 for hit in hits), "a trace counted a span twice"
        log = restarted.log()
        assert log.count("head cut into blocks") >= 2, "the kill should land among cuts"
        assert "compacted blocks" in log, "and compaction should have run on this data"
    finally:
        restarted.stop()


def test_a_torn_wal_tail_is_truncated_and_the_server_starts(make_combray):
    combray = make_combray().start()
    trace_id, message = one_span_request()
    response = requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(),
                             headers={"content-type": "application/x-protobuf"}, timeout=10)
    assert response.status_code == 200
    combray.kill()
    segments = sorted((combray.data_dir / "wal").glob("wal-*.log"))
    with open(segments[-1], "ab") as segment:
        segment.write(b"\x00\x10\x00\x00\x12\x34\x56\x78partial record")

    restarted = Combray(combray.data_dir).start()
    try:
        assert restarted.wait_for_trace(trace_id.hex())["span_count"] == 1
        assert "truncating the torn tail" in restarted.log()
        # Ingest keeps working after the repair.
        second_id, second = one_span_request()
        requests.post(f"{restarted.otlp_http}/v1/traces", data=second.SerializeToString(),
                      headers={"content-type": "application/x-protobuf"}, timeout=10)
        restarted.wait_for_trace(second_id.hex())
    finally:
        restarted.stop()


def test_graceful_restart_keeps_everything(make_combray):
    combray = make_combray().start()
    ids = []
    for _ in range(5):
        trace_id, message = one_span_request()
        requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(),
                      headers={"content-type": "application/x-protobuf"}, timeout=10)
        ids.append(trace_id.hex())
    combray.stop()
    assert combray.process.returncode == 0, combray.log()
    restarted = Combray(combray.data_dir).start()
    try:
        listed = {t["trace_id"] for t in restarted.get("/api/v1/traces", limit="100").json()["traces"]}
        assert listed == set(ids)
    finally:
        restarted.stop()


def test_put_trace_segments_documents_waiting_for_their_parent_survive_kill_9(make_combray):
    """A subsegment acknowledged by PutTraceSegments while it waits for its parent segment is
    journaled: after kill -9 and a restart, the parent still adopts it."""
    from xray_helpers import new_trace_id, wait_for, xray_client

    # A long wait, so the subsegment is still waiting (not yet stored) when the server dies.
    combray = make_combray(["--xray-orphan-wait-seconds", "3600"]).start()
    trace_id, now = new_trace_id(), time.time()
    xray = xray_client(combray.api)
    subsegment = {"type": "subsegment", "trace_id": trace_id, "parent_id": "00000000000000a1",
                  "id": "00000000000000c1", "name": "adopted-query", "start_time": now - 0.5, "end_time": now - 0.2}
    in_progress = {"trace_id": new_trace_id(), "id": "00000000000000b1", "name": "still-running",
                   "start_time": now - 1, "in_progress": True}
    result = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(subsegment), json.dumps(in_progress)])
    assert result["UnprocessedTraceSegments"] == []
    metrics = requests.get(f"{combray.api}/metrics", timeout=10).text
    assert "combray_xray_journaled_documents 2" in metrics
    combray.kill()

    restarted = Combray(combray.data_dir, ["--xray-orphan-wait-seconds", "3600"]).start()
    try:
        assert "combray_xray_journaled_documents 2" in requests.get(f"{restarted.api}/metrics", timeout=10).text
        segment = {"trace_id": trace_id, "id": "00000000000000a1", "name": "backend-flask",
                   "start_time": now - 1, "end_time": now, "origin": "AWS::EC2::Instance"}
        xray = xray_client(restarted.api)
        assert xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)])["UnprocessedTraceSegments"] == []
        otel_id = trace_id[2:10] + trace_id[11:]
        spans = wait_for(lambda: (r := restarted.get(f"/api/v1/traces/{otel_id}")).status_code == 200
                         and len(r.json()["spans"]) == 2 and r.json()["spans"])
        by_name = {span["name"]: span for span in spans}
        assert by_name["adopted-query"]["service"] == "backend-flask", by_name
        # The adopted subsegment left the journal; the in-progress document still waits there.
        assert "combray_xray_journaled_documents 1" in requests.get(f"{restarted.api}/metrics", timeout=10).text
    finally:
        restarted.stop()
    # A clean stop stores what waits; the journal is then empty and nothing comes back twice.
    again = Combray(combray.data_dir, ["--xray-orphan-wait-seconds", "3600"]).start()
    try:
        assert "combray_xray_journaled_documents 0" in requests.get(f"{again.api}/metrics", timeout=10).text
        hits = again.get("/api/v1/traces", service="still-running").json()["traces"]
        assert len(hits) == 1, hits
    finally:
        again.stop()


def test_a_short_crash_loop_loses_and_duplicates_nothing(tmp_path):
    """Two cycles of the crash loop (scripts/crash-loop.sh runs twenty)."""
    from crash_loop import run
    figures = run(tmp_path, cycles=2, seconds=3.0, rate=6000, seed=7)
    assert figures["cycles"] == 2 and figures["acknowledged"] > 1000, figures
