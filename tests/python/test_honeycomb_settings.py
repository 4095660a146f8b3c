"""Saved calculated fields, markers, marker settings and created datasets through Honeycomb's
API, as its docs show: kept across a restart, used by queries, and refused with Honeycomb's
statuses when wrong. Spans come from the OpenTelemetry Python SDK.
"""
import re
import time

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

END = (int(time.time()) // 3600) * 3600 - 3600
START = END - 3600
DURATIONS_MS = [5, 20, 150, 400, 900, 30, 250, 60]


def send_spans(combray, key=None):
    headers = {"x-honeycomb-team": key} if key else {}
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces", headers=headers)))
    tracer = provider.get_tracer("combray-tests")
    for i, ms in enumerate(DURATIONS_MS):
        start = (START + 60 * i) * 10**9
        tracer.start_span("pay", start_time=start).end(end_time=start + ms * 10**6)
    assert provider.force_flush(30_000)
    provider.shutdown()
    deadline = time.time() + 20
    while time.time() < deadline:
        rows = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"},
                             headers=headers, timeout=10).json()["rows"]
        if rows[0][0] >= len(DURATIONS_MS):
            return
        time.sleep(0.2)
    raise AssertionError("spans did not arrive")


def api(combray, method, path, body=None, key=None):
    headers = {"x-honeycomb-team": key} if key else {}
    return requests.request(method, f"{combray.api}{path}", json=body, headers=headers, timeout=30)


def run(combray, spec, dataset="checkout"):
    spec = {"start_time": START, "end_time": END, **spec}
    saved = api(combray, "POST", f"/1/queries/{dataset}", spec)
    assert saved.status_code == 200, saved.text
    created = api(combray, "POST", f"/1/query_results/{dataset}", {"query_id": saved.json()["id"]})
    assert created.status_code == 201, created.text
    result = requests.get(f"{combray.api}{created.headers['Location']}", timeout=10)
    assert result.status_code == 200, result.text
    return result.json()


def test_saved_calculated_fields_are_used_by_queries_and_survive_a_restart(make_combray):
    combray = make_combray().start()
    send_spans(combray)
    field = {"alias": "speed", "expression": 'IF(LT($duration_ms, 100), "fast", "slow")',
             "description": "under 100 ms"}
    created = api(combray, "POST", "/1/derived_columns/checkout", field)
    assert created.status_code == 201, created.text
    saved = created.json()
    assert re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{11}", saved["id"])
    assert {k: saved[k] for k in field} == field
    assert api(combray, "POST", "/1/derived_columns/checkout", field).status_code == 409

    fast = sum(1 for ms in DURATIONS_MS if ms < 100)
    expected = {"fast": fast, "slow": len(DURATIONS_MS) - fast}
    results = run(combray, {"breakdowns": ["speed"]})["data"]["results"]
    assert {r["data"]["speed"]: r["data"]["COUNT"] for r in results} == expected

    # An inline field of the same name wins over the saved one.
    inline = {"breakdowns": ["speed"], "calculated_fields": [{"name": "speed", "expression": '"same"'}]}
    assert [r["data"] for r in run(combray, inline)["data"]["results"]] == [{"speed": "same", "COUNT": len(DURATIONS_MS)}]

    combray.stop()
    combray.start()
    listed = api(combray, "GET", "/1/derived_columns/checkout").json()
    assert [f["alias"] for f in listed] == ["speed"]
    one = api(combray, "GET", "/1/derived_columns/checkout?alias=speed").json()
    assert one["id"] == saved["id"]
    by_id = api(combray, "GET", f"/1/derived_columns/checkout/{saved['id']}")
    assert by_id.status_code == 200 and by_id.json()["expression"] == field["expression"]
    results = run(combray, {"breakdowns": ["speed"]})["data"]["results"]
    assert {r["data"]["speed"]: r["data"]["COUNT"] for r in results} == expected

    changed = api(combray, "PUT", f"/1/derived_columns/checkout/{saved['id']}",
                  {"alias": "speed", "expression": 'IF(GTE($duration_ms, 400), "slow", "ok")'})
    assert changed.status_code == 200, changed.text
    slow = sum(1 for ms in DURATIONS_MS if ms >= 400)
    results = run(combray, {"breakdowns": ["speed"]})["data"]["results"]
    assert {r["data"]["speed"]: r["data"]["COUNT"] for r in results} == {"slow": slow, "ok": len(DURATIONS_MS) - slow}

    assert api(combray, "DELETE", f"/1/derived_columns/checkout/{saved['id']}").status_code == 204
    assert api(combray, "GET", f"/1/derived_columns/checkout/{saved['id']}").status_code == 404
    assert api(combray, "GET", "/1/derived_columns/checkout?alias=speed").status_code == 404


def test_environment_wide_fields_apply_to_every_dataset_and_broken_ones_are_refused(combray):
    send_spans(combray)
    made = api(combray, "POST", "/1/derived_columns/__all__", {"alias": "double_ms", "expression": "MUL($duration_ms, 2)"})
    assert made.status_code == 201, made.text
    total = run(combray, {"calculations": [{"op": "SUM", "column": "double_ms"}]})["data"]["results"][0]["data"]
    assert abs(total["SUM(double_ms)"] - 2 * sum(DURATIONS_MS)) < 1e-6
    broken = api(combray, "POST", "/1/derived_columns/checkout", {"alias": "x", "expression": "IF($duration_ms)"})
    assert broken.status_code == 400
    assert "invalid arguments for op IF, got 1, expected 2 or more" in broken.json()["error"]
    unknown = api(combray, "POST", "/1/derived_columns/checkout", {"alias": "y", "expression": "$no_such_column"})
    assert unknown.status_code == 400 and "unknown column" in unknown.json()["error"]
    clash = api(combray, "POST", "/1/derived_columns/checkout", {"alias": "double_ms", "expression": "1"})
    assert clash.status_code == 409
    assert api(combray, "POST", "/1/derived_columns/checkout", {"alias": "", "expression": "1"}).status_code == 422
    assert api(combray, "POST", "/1/derived_columns/nowhere", {"alias": "z", "expression": "1"}).status_code == 404
    assert api(combray, "POST", "/1/derived_columns/checkout", {"alias": "z", "expression": "1", "bogus": 1}).status_code == 400


def test_markers_are_kept_coloured_and_returned_with_query_results(make_combray):
    combray = make_combray().start()
    send_spans(combray)
    setting = api(combray, "POST", "/1/marker_settings/checkout", {"type": "deploy", "color": "#00ff88"})
    assert setting.status_code == 201, setting.text
    assert setting.json()["updated_at"] is None
    assert api(combray, "POST", "/1/marker_settings/checkout", {"type": "deploy", "color": "#000000"}).status_code == 409
    assert api(combray, "POST", "/1/marker_settings/checkout", {"type": "x", "color": "green"}).status_code == 422

    inside = api(combray, "POST", "/1/markers/checkout",
                 {"start_time": START + 600, "message": "deploy v42", "type": "deploy", "url": "https://ci/42"})
    assert inside.status_code == 201, inside.text
    marker = inside.json()
    assert re.fullmatch(r"[0-9a-f]{8}", marker["id"])
    everywhere = api(combray, "POST", "/1/markers/__all__",
                     {"start_time": START + 1200, "end_time": START + 1500, "message": "incident", "type": "incident"}).json()
    outside = api(combray, "POST", "/1/markers/checkout", {"start_time": END + 7200, "message": "later"}).json()
    before = int(time.time())
    now = api(combray, "POST", "/1/markers/checkout", {"message": "no time given"}).json()
    assert before <= now["start_time"] <= int(time.time()) + 1
    assert api(combray, "POST", "/1/markers/checkout", {"start_time": 10, "end_time": 5}).status_code == 422

    listed = {m["id"]: m for m in api(combray, "GET", "/1/markers/checkout").json()}
    assert set(listed) == {marker["id"], outside["id"], now["id"]}
    assert listed[marker["id"]]["color"] == "#00ff88"
    assert "color" not in listed[outside["id"]]

    combray.stop()
    combray.start()
    result = run(combray, {"calculations": [{"op": "COUNT"}]})
    shown = {m["id"] for m in result["markers"]}
    assert shown == {marker["id"], everywhere["id"]}, "markers over the query's window, the dataset's and the environment's"

    updated = api(combray, "PUT", f"/1/markers/checkout/{marker['id']}", {"start_time": START + 700})
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "" and updated.json()["type"] == "", "an update erases what it omits"
    recoloured = api(combray, "PUT", f"/1/marker_settings/checkout/{setting.json()['id']}", {"type": "deploy", "color": "#123456"})
    assert recoloured.status_code == 200 and recoloured.json()["updated_at"]
    assert api(combray, "PUT", f"/1/marker_settings/checkout/{setting.json()['id']}", {"type": "other", "color": "#123456"}).status_code == 422
    deleted = api(combray, "DELETE", f"/1/markers/checkout/{marker['id']}")
    assert deleted.status_code == 200 and deleted.json()["start_time"] == START + 700
    assert api(combray, "DELETE", f"/1/markers/checkout/{marker['id']}").status_code == 404
    gone = api(combray, "DELETE", f"/1/marker_settings/checkout/{setting.json()['id']}")
    assert gone.status_code == 200 and gone.json()["color"] == "#123456"
    assert api(combray, "GET", "/1/marker_settings/checkout").json() == []


def test_created_datasets_are_listed_queryable_and_need_a_key_of_their_environment(make_combray):
    combray = make_combray()
    ingest = combray.keys_create("shop", "ingest")
    config = combray.keys_create("shop", "configuration")
    other = combray.keys_create("other", "configuration")
    combray.start()
    first = api(combray, "POST", "/1/datasets", {"name": "Payments API", "description": "money"}, key=ingest)
    assert first.status_code == 201, first.text
    assert first.json()["slug"] == "payments-api" and first.json()["created_at"]
    again = api(combray, "POST", "/1/datasets", {"name": "Payments API"}, key=config)
    assert again.status_code == 200 and again.json()["description"] == "money"
    assert api(combray, "POST", "/1/datasets", {"name": ""}, key=config).status_code == 422
    assert api(combray, "POST", "/1/datasets", {"name": "x"}).status_code == 401
    listed = api(combray, "GET", "/1/datasets", key=config).json()
    assert [d["slug"] for d in listed] == ["payments-api"]
    assert api(combray, "GET", "/1/datasets/payments-api", key=config).json()["name"] == "Payments API"
    saved = api(combray, "POST", "/1/queries/payments-api", {"time_range": 3600}, key=config)
    assert saved.status_code == 200, saved.text
    created = api(combray, "POST", "/1/query_results/payments-api", {"query_id": saved.json()["id"]}, key=config)
    result = requests.get(f"{combray.api}{created.headers['Location']}", headers={"x-honeycomb-team": config}, timeout=10)
    assert result.json()["data"]["results"] == [{"data": {"COUNT": 0}}], "a dataset nothing was sent to yet has no events"
    marker = api(combray, "POST", "/1/markers/payments-api", {"message": "m"}, key=ingest)
    assert marker.status_code == 403, "markers need a configuration key"
    assert api(combray, "GET", "/1/datasets", key=other).json() == []


def test_saved_queries_outlive_a_restart(make_combray):
    combray = make_combray().start()
    send_spans(combray)
    spec = {"start_time": START, "end_time": END, "calculations": [{"op": "MAX", "column": "duration_ms"}]}
    saved = api(combray, "POST", "/1/queries/checkout", spec)
    assert saved.status_code == 200, saved.text
    query_id = saved.json()["id"]
    combray.stop()
    combray.start()
    again = api(combray, "GET", f"/1/queries/checkout/{query_id}")
    assert again.status_code == 200 and again.json()["calculations"] == spec["calculations"]
    created = api(combray, "POST", "/1/query_results/checkout", {"query_id": query_id})
    assert created.status_code == 201, created.text
    result = requests.get(f"{combray.api}{created.headers['Location']}", timeout=10).json()
    assert result["data"]["results"][0]["data"]["MAX(duration_ms)"] == max(DURATIONS_MS)
    assert api(combray, "POST", "/1/queries/checkout", spec).json()["id"] == query_id
    assert api(combray, "GET", "/1/queries/checkout/..%2F..%2Fx").status_code == 404
