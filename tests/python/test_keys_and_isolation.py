"""Environments and keys the Honeycomb way, and the read API's own errors."""
import requests
from google.rpc.status_pb2 import Status

from otlp_payloads import one_span_request

PROTOBUF = {"content-type": "application/x-protobuf"}


def send(combray, message, key=None):
    headers = dict(PROTOBUF)
    if key:
        headers["x-honeycomb-team"] = key
    return requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(), headers=headers, timeout=10)


def test_environments_are_isolated_and_ingest_keys_cannot_read(make_combray):
    combray = make_combray()
    ingest_a = combray.keys_create("env-a", "ingest")
    read_a = combray.keys_create("env-a", "configuration")
    read_b = combray.keys_create("env-b", "configuration")
    combray.start()
    trace_id, message = one_span_request(service="svc-a")
    assert send(combray, message, ingest_a).status_code == 200
    trace_hex = trace_id.hex()
    assert combray.wait_for_trace(trace_hex, key=read_a)["services"] == ["svc-a"]

    hidden = combray.get(f"/api/v1/traces/{trace_hex}", key=read_b)
    assert hidden.status_code == 404
    assert combray.get("/api/v1/traces", key=read_b).json()["traces"] == []
    assert combray.get("/api/v1/services", key=read_b).json()["services"] == []
    assert combray.get("/api/v1/services", key=read_a).json()["services"] == ["svc-a"]

    forbidden = combray.get(f"/api/v1/traces/{trace_hex}", key=ingest_a)
    assert forbidden.status_code == 403
    assert "ingest key" in forbidden.json()["error"]


def test_once_keys_exist_they_are_required_and_named(make_combray):
    combray = make_combray()
    combray.keys_create("prod", "ingest")
    combray.start()
    _, message = one_span_request()
    missing = send(combray, message)
    assert missing.status_code == 401
    assert "x-honeycomb-team" in Status.FromString(missing.content).message
    unknown = send(combray, message, key="cmbik_not-a-key")
    assert unknown.status_code == 401
    assert "unknown API key" in Status.FromString(unknown.content).message
    assert combray.get("/api/v1/services").status_code == 401


def test_loadgen_without_a_key_fails_and_says_to_pass_one(make_combray):
    import json
    import subprocess
    from conftest import BIN
    combray = make_combray()
    key = combray.keys_create("prod", "ingest")
    combray.start()
    run = [BIN, "loadgen", "otlp", "--endpoint", combray.otlp_http, "--rate", "500", "--duration", "1"]
    refused = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "--api-key" in refused.stderr and "401" in refused.stderr, refused.stderr
    assert json.loads(refused.stdout)["spans_acked"] == 0
    accepted = subprocess.run(run + ["--api-key", key], capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["spans_acked"] > 0
    # Piped, stderr holds no progress line: no carriage returns, no terminal escapes.
    assert "\r" not in accepted.stderr and "\x1b[" not in accepted.stderr, repr(accepted.stderr)


def test_loadgen_on_a_terminal_draws_a_progress_line(combray):
    import json
    import os
    import pty
    import subprocess
    from conftest import BIN
    controller, terminal = pty.openpty()
    run = [BIN, "loadgen", "otlp", "--endpoint", combray.otlp_http, "--rate", "2000",
           "--duration", "2", "--batch-size", "50"]
    with subprocess.Popen(run, stdout=subprocess.PIPE, stderr=terminal) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the run has ended
                break
            if not chunk:
                break
            drawn += chunk
        report = json.loads(process.stdout.read())
        assert process.wait(timeout=60) == 0
    os.close(controller)
    screen = drawn.decode(errors="replace")
    assert "spans sent" in screen and "acknowledged" in screen, repr(screen)
    assert report["spans_acked"] > 0


def test_keys_created_while_running_take_effect(combray):
    # No keys: open access to the default environment.
    assert send(combray, one_span_request()[1]).status_code == 200
    key = combray.keys_create("late", "ingest")
    import time
    deadline = time.time() + 10
    while send(combray, one_span_request()[1]).status_code == 200 and time.time() < deadline:
        time.sleep(0.2)
    assert send(combray, one_span_request()[1]).status_code == 401
    assert send(combray, one_span_request()[1], key=key).status_code == 200


def test_read_api_errors_are_precise_json(combray):
    bad_id = combray.get("/api/v1/traces/not-hex")
    assert bad_id.status_code == 400 and "32 hexadecimal" in bad_id.json()["error"]
    unknown = combray.get("/api/v1/traces", bogus="1")
    assert unknown.status_code == 400 and "bogus" in unknown.json()["error"]
    bad_duration = combray.get("/api/v1/traces", min_duration="soon")
    assert bad_duration.status_code == 400 and "min_duration" in bad_duration.json()["error"]
    assert combray.get("/api/v1/services/nope/operations").status_code == 404
    assert combray.get("/api/v2/whatever").status_code == 404
    assert combray.get("/healthz").text == "ok"


def test_search_filters_by_attribute_duration_and_status(combray):
    import json
    from otlp_payloads import json_request, new_trace_id
    slow_error = new_trace_id().hex()
    body = json_request(slow_error, service="checkout")
    requests.post(f"{combray.otlp_http}/v1/traces", data=json.dumps(body),
                  headers={"content-type": "application/json"}, timeout=10)
    trace_id, message = one_span_request(service="checkout")
    send(combray, message)
    combray.wait_for_trace(slow_error)
    combray.wait_for_trace(trace_id.hex())
    hits = lambda **params: [t["trace_id"] for t in combray.get("/api/v1/traces", **params).json()["traces"]]
    assert hits(service="checkout", status="error") == [slow_error]
    assert hits(**{"attr.http.status_code": "201"}) == [slow_error]
    assert hits(min_duration="100ms") == [slow_error]
    assert hits(max_duration="100ms") == [trace_id.hex()]
    assert set(hits(service="checkout")) == {slow_error, trace_id.hex()}


def test_prometheus_metrics_cover_ingest_wal_and_head(combray):
    send(combray, one_span_request()[1])
    text = combray.get("/metrics").text
    for needle in [
        'combray_spans_accepted_total{protocol="otlp_http_protobuf"} 1',
        "combray_wal_fsync_seconds_bucket",
        "combray_wal_fsync_seconds_count",
        "combray_head_spans 1",
        "combray_head_bytes",
        'combray_ingest_bytes_total{stage="received"}',
        'combray_requests_rejected_total{reason="unauthorized"} 0',
    ]:
        assert needle in text, needle
