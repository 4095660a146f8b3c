"""Honeycomb's Events API through libhoney (PyPI), and raw requests for what libhoney never sends."""
import json
import random
import time

import libhoney
import requests
import zstandard

from otlp_payloads import request, span

START = (int(time.time()) // 60) * 60 - 600


def wait_for_count(combray, dataset, expected, key, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = query(combray, dataset, {"time_range": 3600}, key)
        got = rows[0]["data"].get("COUNT", 0) if rows else 0
        if got >= expected:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{dataset}: fewer than {expected} events")


def query(combray, dataset, spec, key):
    headers = {"x-honeycomb-team": key}
    saved = requests.post(f"{combray.api}/1/queries/{dataset}", json=spec, headers=headers, timeout=10)
    assert saved.status_code == 200, saved.text
    made = requests.post(f"{combray.api}/1/query_results/{dataset}", headers=headers, timeout=30,
                         json={"query_id": saved.json()["id"], "disable_series": True})
    assert made.status_code == 201, made.text
    return requests.get(f"{combray.api}{made.headers['Location']}", headers=headers, timeout=10).json()["data"]["results"]


def test_libhoney_events_are_kept_weighted_and_answered_one_by_one(make_combray):
    combray = make_combray()
    ingest = combray.keys_create("prod", "ingest")
    config = combray.keys_create("prod", "configuration")
    combray.start()
    client = libhoney.Client(writekey=ingest, dataset="shop api", api_host=combray.api, block_on_response=True)
    rng = random.Random(11)
    sent = []
    for i in range(300):
        event = client.new_event()
        fields = {"endpoint": rng.choice(["/cart", "/pay", "/search"]), "duration_ms": rng.uniform(1, 90),
                  "items": rng.randint(0, 5)}
        event.add(fields)
        event.created_at = __import__("datetime").datetime.fromtimestamp(START + i, __import__("datetime").timezone.utc)
        event.sample_rate = rng.choice([1, 4])
        event.send_presampled()
        sent.append({**fields, "w": event.sample_rate})
    client.flush()
    responses = []
    deadline = time.time() + 20
    while len(responses) < len(sent) and time.time() < deadline:
        answer = client.responses().get(timeout=5)
        if answer is not None:
            responses.append(answer)
    assert len(responses) == len(sent)
    assert all(r["status_code"] == 202 and not r["error"] for r in responses), responses[:3]

    assert wait_for_count(combray, "shop-api", sum(e["w"] for e in sent), config) == sum(e["w"] for e in sent)
    rows = query(combray, "shop-api", {"start_time": START, "end_time": START + 600, "breakdowns": ["endpoint"],
                                        "calculations": [{"op": "COUNT"}, {"op": "AVG", "column": "duration_ms"},
                                                         {"op": "SUM", "column": "items"}]}, config)
    for row in rows:
        group = [e for e in sent if e["endpoint"] == row["data"]["endpoint"]]
        assert row["data"]["COUNT"] == sum(e["w"] for e in group)
        avg = sum(e["duration_ms"] * e["w"] for e in group) / sum(e["w"] for e in group)
        assert abs(row["data"]["AVG(duration_ms)"] - avg) < 1e-6 * avg
        assert row["data"]["SUM(items)"] == sum(e["items"] * e["w"] for e in group)
    # Events without trace ids are events, not traces.
    kinds = query(combray, "shop-api", {"time_range": 3600, "breakdowns": ["meta.signal_type"]}, config)
    assert [r["data"]["meta.signal_type"] for r in kinds] == ["event"]
    ids = query(combray, "shop-api", {"time_range": 3600, "calculations": [{"op": "COUNT_DISTINCT", "column": "trace.trace_id"}]}, config)
    assert ids[0]["data"].get("COUNT_DISTINCT(trace.trace_id)", 0) == 0, "an event without a trace shows no trace id"
    headers = {"x-honeycomb-team": config}
    window = {"start": START - 60, "end": START + 660}
    for search in ({}, {"service": "shop-api"}):
        listed = requests.get(f"{combray.api}/api/v1/traces", params={**window, **search}, headers=headers, timeout=10)
        assert listed.status_code == 200 and listed.json()["traces"] == [], listed.text
    summaries = requests.post(f"{combray.api}/TraceSummaries", json={"StartTime": START - 60, "EndTime": START + 660},
                              headers=headers, timeout=10)
    assert summaries.status_code == 200 and summaries.json()["TraceSummaries"] == [], summaries.text
    # Acknowledged means kept: a kill -9 right after loses nothing.
    combray.kill()
    combray.start()
    assert wait_for_count(combray, "shop-api", sum(e["w"] for e in sent), config) == sum(e["w"] for e in sent)


def test_an_event_with_trace_ids_joins_its_otlp_trace(combray):
    trace_id, root_id = random.randbytes(16), random.randbytes(8)
    sent = requests.post(f"{combray.otlp_http}/v1/traces", data=request([span(trace_id, root_id)]).SerializeToString(),
                         headers={"content-type": "application/x-protobuf"}, timeout=10)
    assert sent.status_code == 200
    event = {"data": {"trace.trace_id": trace_id.hex(), "trace.span_id": random.randbytes(8).hex(),
                      "trace.parent_id": root_id.hex(), "name": "charge card", "service.name": "payments",
                      "duration_ms": 12.5}, "time": "2023-11-14T22:13:20.010000Z"}
    answer = requests.post(f"{combray.api}/1/batch/payments", json=[event], timeout=10)
    assert answer.json() == [{"status": 202}]
    trace = combray.wait_for_trace(trace_id.hex(), min_spans=2)
    assert sorted(trace["services"]) == ["backend-flask", "payments"]


def test_single_events_take_time_and_rate_from_headers_and_bad_items_fail_alone(combray):
    body = zstandard.ZstdCompressor().compress(json.dumps({"job": "nightly", "duration_ms": 5}).encode())
    single = requests.post(f"{combray.api}/1/events/batch-jobs", data=body, timeout=10, headers={
        "content-type": "application/json", "content-encoding": "zstd",
        "x-honeycomb-event-time": str(START), "x-honeycomb-samplerate": "10"})
    assert single.status_code == 200 and single.content == b""
    rows = query(combray, "batch-jobs", {"start_time": START, "end_time": START + 60}, None)
    assert rows[0]["data"]["COUNT"] == 10
    mixed = requests.post(f"{combray.api}/1/batch/batch-jobs", timeout=10,
                          json=[{"data": {"a": 1}}, {"time": 5}, {"data": {}}, {"data": {"b": 2}}])
    statuses = [s["status"] for s in mixed.json()]
    assert statuses == [202, 400, 400, 202]
    assert requests.post(f"{combray.api}/1/batch/batch-jobs", data=b"[", timeout=10).status_code == 400
    assert requests.post(f"{combray.api}/1/batch/batch-jobs", data=b"", timeout=10).status_code == 400


def test_msgpack_batches_as_libhoney_go_sends_them(combray):
    """libhoney-go encodes its batch as msgpack, `time` as a msgpack timestamp; gzip on top."""
    import gzip

    import msgpack

    items = [{"data": {"job": "resize", "duration_ms": 12.5, "trace.trace_id": "ab" * 16, "trace.span_id": "cd" * 8},
              "time": msgpack.Timestamp(START + 5, 250_000_000), "samplerate": 3},
             {"data": {"job": "resize", "duration_ms": 7}, "time": msgpack.Timestamp(START + 6)},
             {"time": msgpack.Timestamp(START + 7)}]
    body = gzip.compress(msgpack.packb(items, datetime=False))
    answer = requests.post(f"{combray.api}/1/batch/images", data=body, timeout=10, headers={
        "content-type": "application/msgpack", "content-encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert [s["status"] for s in answer.json()] == [202, 202, 400]
    rows = query(combray, "images", {"start_time": START, "end_time": START + 60,
                                     "calculations": [{"op": "COUNT"}, {"op": "SUM", "column": "duration_ms"}]}, None)
    assert rows[0]["data"] == {"COUNT": 4, "SUM(duration_ms)": 12.5 * 3 + 7}
    trace = requests.get(f"{combray.api}/api/v1/traces/{'ab' * 16}", timeout=10).json()
    started = trace["spans"][0]["start_unix_nano"]
    assert int(started) == (START + 5) * 10**9 + 250_000_000
    single = requests.post(f"{combray.api}/1/events/images", data=msgpack.packb({"job": "crop"}), timeout=10,
                           headers={"content-type": "application/x-msgpack", "x-honeycomb-event-time": str(START + 9)})
    assert single.status_code == 200, single.text
    broken = requests.post(f"{combray.api}/1/batch/images", data=b"\xc1", timeout=10,
                           headers={"content-type": "application/msgpack"})
    assert broken.status_code == 400 and "malformed" in broken.text
