"""OTLP/HTTP receiver behaviour: encodings, compressions and every error answer."""
import gzip
import json
import os
import zlib

import requests
import zstandard
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otlp_payloads import json_request, new_trace_id, one_span_request, request, span

PROTOBUF = {"content-type": "application/x-protobuf"}


def post(combray, body, headers, path="/v1/traces"):
    return requests.post(f"{combray.otlp_http}{path}", data=body, headers=headers, timeout=10)


def test_otlp_json_with_hex_ids_and_int64_strings(combray):
    trace_hex = new_trace_id().hex()
    response = post(combray, json.dumps(json_request(trace_hex)), {"content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json().get("partialSuccess") in (None, {})
    trace = combray.wait_for_trace(trace_hex)
    only = trace["spans"][0]
    assert only["span_id"] == "eee19b7ec3c1b174"
    assert only["attributes"] == {"http.status_code": 201, "ratio": 0.5}
    assert only["status"] == {"code": "error", "message": "boom"}
    assert only["duration_nano"] == 200_000_000
    assert only["protocol"] == "otlp_http_json"


def test_every_compression_is_accepted(combray):
    compressors = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
        "identity": lambda data: data,
    }
    for encoding, compress in compressors.items():
        trace_id, message = one_span_request()
        response = post(combray, compress(message.SerializeToString()), {**PROTOBUF, "content-encoding": encoding})
        assert response.status_code == 200, (encoding, response.text)
        assert response.headers["content-type"] == "application/x-protobuf"
        parsed = ExportTraceServiceResponse.FromString(response.content)
        assert not parsed.HasField("partial_success")
        combray.wait_for_trace(trace_id.hex())


def test_alternate_paths_and_media_type(combray):
    for path, content_type in [("/v1/traces/", "application/protobuf"), ("/", "application/x-protobuf")]:
        trace_id, message = one_span_request()
        response = post(combray, message.SerializeToString(), {"content-type": content_type}, path=path)
        assert response.status_code == 200, (path, response.text)
        combray.wait_for_trace(trace_id.hex())


def test_invalid_spans_are_reported_as_partial_success(combray):
    trace_id = new_trace_id()
    message = request([
        span(trace_id, os.urandom(8)),
        span(b"\0" * 16, os.urandom(8)),
        span(trace_id, b"\x01\x02"),
    ])
    response = post(combray, message.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert "invalid trace_id" in partial.error_message and "invalid span_id" in partial.error_message
    assert combray.wait_for_trace(trace_id.hex())["span_count"] == 1
    metrics = combray.get("/metrics").text
    assert 'combray_spans_rejected_total{reason="invalid_span"} 2' in metrics


def test_undecodable_bodies_are_400_with_rpc_status_in_the_request_encoding(combray):
    response = post(combray, b"\xff\xff\xff\xff", PROTOBUF)
    assert response.status_code == 400
    status = Status.FromString(response.content)
    assert status.code == 3 and "protobuf" in status.message
    response = post(combray, b"{not json", {"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]
    response = post(combray, b"not gzip", {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in Status.FromString(response.content).message


def test_unknown_content_type_and_encoding_are_415(combray):
    response = post(combray, b"x", {"content-type": "text/plain"})
    assert response.status_code == 415
    assert "text/plain" in response.json()["message"]
    response = post(combray, b"x", {**PROTOBUF, "content-encoding": "br"})
    assert response.status_code == 415


def test_bodies_over_the_cap_are_413_before_and_after_decompression(make_combray):
    combray = make_combray(["--max-body-bytes", "65536"]).start()
    _, big = one_span_request(padding=100_000)
    body = big.SerializeToString()
    response = post(combray, body, PROTOBUF)
    assert response.status_code == 413
    assert "65536" in Status.FromString(response.content).message
    compressed = gzip.compress(body)
    assert len(compressed) < 65536
    response = post(combray, compressed, {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 413
    trace_id, small = one_span_request()
    assert post(combray, small.SerializeToString(), PROTOBUF).status_code == 200


def test_overload_is_503_with_retry_after(make_combray):
    # The first batch fills the head; the next one cannot be taken.
    combray = make_combray(["--max-head-bytes", "1"]).start()
    assert post(combray, one_span_request()[1].SerializeToString(), PROTOBUF).status_code == 200
    response = post(combray, one_span_request()[1].SerializeToString(), PROTOBUF)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert Status.FromString(response.content).code == 14


def test_ingest_memory_budget_answers_503_not_a_queue(make_combray):
    combray = make_combray(["--max-body-bytes", "65536", "--max-inflight-bytes", "131072"]).start()
    _, big = one_span_request(padding=60_000)
    response = post(combray, gzip.compress(big.SerializeToString()), {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 503
    assert "memory limit" in Status.FromString(response.content).message
    assert int(response.headers["retry-after"]) >= 1


def test_metrics_and_logs_are_accepted_and_dropped(combray):
    for path in ["/v1/metrics", "/v1/logs"]:
        assert post(combray, b"", PROTOBUF, path=path).status_code == 200
        response = post(combray, b"{}", {"content-type": "application/json"}, path=path)
        assert response.status_code == 200 and response.json() == {}


def test_logs_written_to_a_file_carry_no_colour_codes(combray):
    assert combray.get("/readyz").status_code == 200
    log = combray.log()
    assert "listening" in log or "ready" in log, log[-500:]
    assert "\x1b[" not in log, repr(log[:300])
