"""Honeycomb's Query Data API over spans sent by the OpenTelemetry Python SDK.

Every expected number is computed by `honeycomb_oracle` from the events this module sent.
"""
import random
import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

import honeycomb_oracle as oracle
from conftest import Combray

ROUTES = ["/api/activities/home", "/api/messages", "/api/profile/update", "/healthz"]
SERVICES = ["backend-flask", "frontend-react-js"]
# One hour, aligned to the hour, ending at least an hour ago: no truncation moves it.
END = (int(time.time()) // 3600) * 3600 - 3600
START = END - 3600


def make_events(seed=7, count=800):
    rng = random.Random(seed)
    events = []
    for i in range(count):
        route = rng.choice(ROUTES)
        status = rng.choices([200, 404, 500], weights=[80, 12, 8])[0]
        base = {"/api/activities/home": 40, "/api/messages": 15, "/api/profile/update": 120, "/healthz": 1}[route]
        duration_us = int(rng.expovariate(1 / base) * 1000) + 50
        event = {
            "service.name": rng.choice(SERVICES),
            "name": f"GET {route}",
            "http.route": route,
            "http.status_code": status,
            "user.id": f"u{rng.randint(1, 30)}",
            "duration_ms": duration_us * 1000 / 1e6,
            "w": rng.choices([1, 5, 10], weights=[75, 20, 5])[0],
            "t": START + rng.uniform(0, 3599),
        }
        if status == 500:
            event["error"] = True
        if rng.random() < 0.3:
            event["feature.flag"] = rng.choice(["dark-mode", "beta-feed"])
        events.append(event)
    return events


EVENTS = make_events()


def send(endpoint, events):
    """Each service through its own TracerProvider, as separate apps would."""
    for service in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        tracer = provider.get_tracer("combray-tests")
        for event in (e for e in events if e["service.name"] == service):
            attributes = {k: event[k] for k in ("http.route", "http.status_code", "user.id", "feature.flag") if k in event}
            attributes["SampleRate"] = event["w"]
            start_ns = int(event["t"] * 1e9)
            span = tracer.start_span(event["name"], start_time=start_ns, attributes=attributes)
            if event.get("error"):
                span.set_status(Status(StatusCode.ERROR, "boom"))
            span.end(end_time=start_ns + int(round(event["duration_ms"] * 1e6)))
        assert provider.force_flush(30_000)
        provider.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    combray = Combray(tmp_path_factory.mktemp("honeycomb") / "data").start()
    send(combray.otlp_http, EVENTS)
    expected = len(EVENTS)
    deadline = time.time() + 30
    while time.time() < deadline:
        answer = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=10)
        if answer.json()["rows"][0][0] >= expected:
            break
        time.sleep(0.2)
    yield combray
    combray.stop()


def post(server, path, body, key=None):
    headers = {"x-honeycomb-team": key} if key else {}
    return requests.post(f"{server.api}{path}", json=body, headers=headers, timeout=30)


def run(server, spec, dataset="__all__", **options):
    """Saves the query, creates its result and fetches it, as Honeycomb's docs show."""
    spec = {"start_time": START, "end_time": END, **spec}
    saved = post(server, f"/1/queries/{dataset}", spec)
    assert saved.status_code == 200, saved.text
    query_id = saved.json()["id"]
    created = post(server, f"/1/query_results/{dataset}", {"query_id": query_id, **options})
    assert created.status_code == 201, created.text
    assert created.json()["query"]["id"] == query_id
    result = requests.get(f"{server.api}{created.headers['Location']}", timeout=10)
    assert result.status_code == 200, result.text
    assert result.json()["complete"] is True
    return result.json()["data"]


def honeycomb_key(op, column):
    return op if column is None else f"{op}({column})"


CALCULATIONS = [("COUNT", None), ("SUM", "duration_ms"), ("AVG", "duration_ms"), ("MIN", "duration_ms"),
                ("MAX", "duration_ms"), ("COUNT_DISTINCT", "user.id")] + \
               [(p, "duration_ms") for p in oracle.PERCENTILES]


def test_every_calculation_by_route_matches_the_weighted_oracle(server):
    spec = {"calculations": [{"op": op, **({"column": c} if c else {})} for op, c in CALCULATIONS],
            "breakdowns": ["http.route"], "filters": [{"column": "service.name", "op": "=", "value": "backend-flask"}]}
    data = run(server, spec, disable_series=True)
    events = [e for e in EVENTS if e["service.name"] == "backend-flask"]
    groups = oracle.group_by(events, ["http.route"])
    assert len(data["results"]) == len(groups)
    counts = [row["data"]["COUNT"] for row in data["results"]]
    assert counts == sorted(counts, reverse=True), "ranked by the first calculation, descending"
    for row in data["results"]:
        members = groups[(row["data"]["http.route"],)]
        for op, column in CALCULATIONS:
            expected = oracle.calculate(members, op, column)
            relative = 0.004 if op in oracle.PERCENTILES else 1e-9
            got = row["data"][honeycomb_key(op, column)]
            assert oracle.close(got, expected, relative), (row["data"]["http.route"], op, got, expected)


def test_a_dataset_is_one_service_and_all_spans_them_all(server):
    only = run(server, {"breakdowns": ["service.name"]}, dataset="backend-flask", disable_series=True)
    every = run(server, {"breakdowns": ["service.name"]}, disable_series=True)
    by_service = {s: sum(e["w"] for e in EVENTS if e["service.name"] == s) for s in SERVICES}
    assert [r["data"] for r in only["results"]] == [{"service.name": "backend-flask", "COUNT": by_service["backend-flask"]}]
    assert {r["data"]["service.name"]: r["data"]["COUNT"] for r in every["results"]} == by_service


FILTERS = [
    ("http.route", "=", "/api/messages"), ("http.route", "!=", "/api/messages"),
    ("http.status_code", "=", 500), ("http.status_code", "=", "404"), ("http.status_code", "!=", 200),
    ("duration_ms", ">", 40), ("duration_ms", ">=", 1.05), ("duration_ms", "<", 5), ("duration_ms", "<=", 20),
    ("http.route", "starts-with", "/api/"), ("http.route", "does-not-start-with", "/api/"),
    ("http.route", "ends-with", "update"), ("http.route", "does-not-end-with", "update"),
    ("user.id", "contains", "1"), ("user.id", "does-not-contain", "1"),
    ("feature.flag", "exists", None), ("feature.flag", "does-not-exist", None),
    ("error", "=", True), ("http.route", "in", ["/healthz", "/api/messages"]),
    ("http.status_code", "not-in", [200, 404]), ("no.such.column", "does-not-exist", None),
]


@pytest.mark.parametrize("column,op,value", FILTERS)
def test_every_filter_operator_counts_what_the_oracle_counts(server, column, op, value):
    flt = {"column": column, "op": op, **({} if value is None else {"value": value})}
    data = run(server, {"filters": [flt]}, disable_series=True)
    expected = sum(e["w"] for e in EVENTS if oracle.matches(e, column, op, value))
    got = data["results"][0]["data"].get("COUNT", 0) if data["results"] else 0
    assert got == expected


def test_filter_combination_or_and_per_calculation_filters(server):
    slow = {"column": "duration_ms", "op": ">", "value": 100}
    failed = {"column": "http.status_code", "op": "=", "value": 500}
    data = run(server, {"filters": [slow, failed], "filter_combination": "OR",
                        "calculations": [{"op": "COUNT"},
                                         {"op": "COUNT", "name": "errors", "filters": [failed]}]},
               disable_series=True)
    either = [e for e in EVENTS if e["duration_ms"] > 100 or e["http.status_code"] == 500]
    row = data["results"][0]["data"]
    assert row["COUNT"] == sum(e["w"] for e in either)
    assert row["errors"] == sum(e["w"] for e in either if e["http.status_code"] == 500)


def test_usage_mode_turns_off_the_sample_rate_correction(server):
    spec = {"calculations": [{"op": "COUNT"}, {"op": "AVG", "column": "duration_ms"}], "usage_mode": True}
    row = run(server, spec, disable_series=True)["results"][0]["data"]
    assert row["COUNT"] == len(EVENTS)
    assert oracle.close(row["AVG(duration_ms)"], oracle.calculate(EVENTS, "AVG", "duration_ms", usage_mode=True))
    weighted = run(server, {"calculations": [{"op": "COUNT"}]}, disable_series=True)["results"][0]["data"]
    assert weighted["COUNT"] == sum(e["w"] for e in EVENTS) != len(EVENTS)


def test_havings_orders_limits_and_the_total(server):
    spec = {"calculations": [{"op": "COUNT"}, {"op": "P95", "column": "duration_ms"}],
            "breakdowns": ["user.id"], "havings": [{"calculate_op": "COUNT", "op": ">", "value": 30}],
            "orders": [{"op": "P95", "column": "duration_ms", "order": "descending"}], "limit": 5}
    data = run(server, spec, disable_series=True, disable_total_by_aggregate=False)
    groups = oracle.group_by(EVENTS, ["user.id"])
    kept = [(k[0], oracle.calculate(v, "P95", "duration_ms")) for k, v in groups.items()
            if oracle.calculate(v, "COUNT") > 30]
    kept.sort(key=lambda item: (-item[1], item[0]))
    got = [(r["data"]["user.id"], r["data"]["P95(duration_ms)"]) for r in data["results"]]
    assert len(got) == min(5, len(kept))
    for (user, p95), (want_user, want_p95) in zip(got, kept):
        assert oracle.close(p95, want_p95, 0.004)
    assert [u for u, _ in got] == [u for u, _ in kept[:len(got)]]
    assert data["total_by_aggregate"]["COUNT"] == sum(e["w"] for e in EVENTS), "havings do not touch the total"


def test_time_series_has_every_bucket_of_every_kept_group(server):
    spec = {"calculations": [{"op": "COUNT"}], "breakdowns": ["http.route"], "granularity": 300}
    data = run(server, spec)
    assert len(data["series"]) == 12 * len(ROUTES)
    for point in data["series"]:
        bucket = time.mktime(time.strptime(point["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        members = [e for e in EVENTS if e["http.route"] == point["data"]["http.route"]
                   and bucket <= e["t"] < bucket + 300]
        assert point["data"]["COUNT"] == sum(e["w"] for e in members), point
    assert sum(p["data"]["COUNT"] for p in data["series"]) == sum(e["w"] for e in EVENTS)


def test_results_series_total_and_other_agree_in_one_request(server):
    """Every part of the answer at once (what one pass over the events computes): ranked,
    having-filtered, limited groups; each kept group's series; the total; the rest."""
    spec = {"calculations": [{"op": "COUNT"}, {"op": "P95", "column": "duration_ms"},
                             {"op": "MAX", "column": "duration_ms"}],
            "breakdowns": ["user.id", "service.name"], "granularity": 900, "limit": 4,
            "havings": [{"calculate_op": "COUNT", "op": ">", "value": 12}],
            "orders": [{"op": "MAX", "column": "duration_ms", "order": "descending"}]}
    data = run(server, spec, disable_total_by_aggregate=False, disable_other_by_aggregate=False)
    groups = oracle.group_by(EVENTS, ["user.id", "service.name"])
    passing = [k for k, v in groups.items() if oracle.calculate(v, "COUNT") > 12]
    passing.sort(key=lambda k: (-oracle.calculate(groups[k], "MAX", "duration_ms"), k))
    kept = passing[:4]
    assert len(kept) == 4 and len(passing) > 4, "the data exercises the having and the limit"
    got = [(r["data"]["user.id"], r["data"]["service.name"]) for r in data["results"]]
    assert got == kept
    for row, key in zip(data["results"], kept):
        assert row["data"]["COUNT"] == oracle.calculate(groups[key], "COUNT")
        assert oracle.close(row["data"]["P95(duration_ms)"], oracle.calculate(groups[key], "P95", "duration_ms"), 0.004)
    assert len(data["series"]) == 4 * len(kept)
    for point in data["series"]:
        bucket = time.mktime(time.strptime(point["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        key = (point["data"]["user.id"], point["data"]["service.name"])
        assert key in kept
        members = [e for e in groups[key] if bucket <= e["t"] < bucket + 900]
        assert point["data"]["COUNT"] == oracle.calculate(members, "COUNT"), point
        assert oracle.close(point["data"].get("MAX(duration_ms)"), oracle.calculate(members, "MAX", "duration_ms"))
    assert data["total_by_aggregate"]["COUNT"] == oracle.calculate(EVENTS, "COUNT")
    assert oracle.close(data["total_by_aggregate"]["P95(duration_ms)"],
                        oracle.calculate(EVENTS, "P95", "duration_ms"), 0.004)
    rest = [e for k, v in groups.items() if k not in kept for e in v]
    assert data["other_by_aggregate"]["COUNT"] == oracle.calculate(rest, "COUNT")
    assert oracle.close(data["other_by_aggregate"]["MAX(duration_ms)"], oracle.calculate(rest, "MAX", "duration_ms"))
    # A limit that leaves nothing out: the rest is empty.
    everything = run(server, {"calculations": [{"op": "COUNT"}, {"op": "MAX", "column": "duration_ms"}],
                              "breakdowns": ["http.route"]},
                     disable_series=True, disable_other_by_aggregate=False)
    assert len(everything["results"]) == len(ROUTES)
    assert everything["other_by_aggregate"] == {"COUNT": 0}


def test_series_buckets_merge_into_results_and_total_with_calculation_filters(server):
    """COUNT, MIN and percentiles are answered by grouping events per (bucket, group) once and
    merging the buckets: each must still agree with the events of its bucket, its group and
    the window, including a calculation's own filter."""
    failed = {"column": "http.status_code", "op": "=", "value": 500}
    spec = {"calculations": [{"op": "COUNT", "name": "errors", "filters": [failed]},
                             {"op": "MIN", "column": "duration_ms"},
                             {"op": "P50", "column": "duration_ms"}],
            "breakdowns": ["http.route"], "granularity": 600}
    data = run(server, spec, disable_total_by_aggregate=False)
    groups = oracle.group_by(EVENTS, ["http.route"])

    def expect(data_row, events):
        errors = [e for e in events if e["http.status_code"] == 500]
        assert data_row.get("errors", 0) == oracle.calculate(errors, "COUNT"), data_row
        if events:
            assert oracle.close(data_row["MIN(duration_ms)"], oracle.calculate(events, "MIN", "duration_ms"))
            assert oracle.close(data_row["P50(duration_ms)"], oracle.calculate(events, "P50", "duration_ms"), 0.004)

    assert len(data["results"]) == len(ROUTES)
    for row in data["results"]:
        expect(row["data"], groups[(row["data"]["http.route"],)])
    assert len(data["series"]) == 6 * len(ROUTES)
    for point in data["series"]:
        bucket = time.mktime(time.strptime(point["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        members = [e for e in groups[(point["data"]["http.route"],)] if bucket <= e["t"] < bucket + 600]
        expect(point["data"], members)
    expect(data["total_by_aggregate"], EVENTS)


def test_heatmap_counts_are_weighted_and_placed_on_the_shared_axis(server):
    data = run(server, {"calculations": [{"op": "HEATMAP", "column": "duration_ms"}]}, disable_series=True)
    heatmap = data["results"][0]["data"]["HEATMAP(duration_ms)"]
    values = [e["duration_ms"] for e in EVENTS]
    low, high = min(values), max(values)
    assert oracle.close(heatmap["min_value"], low) and oracle.close(heatmap["max_value"], high)
    step = (high - low) / len(heatmap["counts"])
    expected = [0] * len(heatmap["counts"])
    for event in EVENTS:
        expected[min(int((event["duration_ms"] - low) // step), len(expected) - 1)] += event["w"]
    assert heatmap["counts"] == expected


@pytest.mark.parametrize("spec,status,field", [
    ({"calculations": [{"op": "P98", "column": "duration_ms"}]}, 422, "calculations[0].op"),
    ({"calculations": [{"op": "P99"}]}, 422, "calculations[0].column"),
    ({"filters": [{"column": "x", "op": "exists", "value": 3}]}, 422, "filters[0].value"),
    ({"filters": [{"column": "x", "op": "in", "value": 3}]}, 422, "filters[0].value"),
    ({"orders": [{"op": "AVG", "column": "duration_ms"}]}, 422, "orders[0]"),
    ({"havings": [{"calculate_op": "P95", "column": "duration_ms", "op": ">", "value": 1}]}, 422, "havings[0]"),
    ({"time_range": 60}, 422, "time_range"),
    ({"granularity": 1}, 422, "granularity"),
    ({"calculations": [{"op": "COUNT"}], "breakdown": ["typo"]}, 400, None),
])
def test_invalid_queries_are_refused_naming_the_field(server, spec, status, field):
    answer = post(server, "/1/queries/__all__", {"start_time": START, "end_time": END, **spec})
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field:
        assert body["type_detail"][0]["field"] == field
        assert body["title"] == "The provided input is invalid."
    else:
        assert "breakdown" in body["error"]


def test_unknown_datasets_queries_and_results_are_404_and_long_ranges_400(server):
    assert post(server, "/1/queries/no-such-service", {}).status_code == 404
    assert requests.get(f"{server.api}/1/queries/__all__/nope", timeout=10).status_code == 404
    assert requests.get(f"{server.api}/1/query_results/__all__/nope", timeout=10).status_code == 404
    long = post(server, "/1/queries/__all__", {"time_range": 8 * 86400})
    assert long.status_code == 400 and "7 days" in long.json()["error"]
    bad = post(server, "/1/query_results/__all__", {"query_id": "nope"})
    assert bad.status_code == 422 and bad.json()["type_detail"][0]["field"] == "query_id"


def test_columns_list_span_fields_and_attributes_with_their_types(server):
    columns = {c["key_name"]: c["type"] for c in requests.get(f"{server.api}/1/columns/__all__", timeout=10).json()}
    assert columns["duration_ms"] == "float"
    assert columns["http.route"] == "string"
    assert columns["http.status_code"] == "integer"
    assert columns["service.name"] == "string"
    datasets = requests.get(f"{server.api}/1/datasets", timeout=10).json()
    assert sorted(d["slug"] for d in datasets) == sorted(SERVICES)
    # Per dataset: only the columns its events have, each with the start of its latest event.
    listed = {c["key_name"]: c for c in requests.get(f"{server.api}/1/columns/backend-flask", timeout=10).json()}
    mine = [e for e in EVENTS if e["service.name"] == "backend-flask"]
    stamp = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))  # noqa: E731
    assert listed["http.route"]["last_written"] == stamp(int(max(e["t"] for e in mine)))
    flagged = [e["t"] for e in mine if "feature.flag" in e]
    assert listed["feature.flag"]["last_written"] == stamp(int(max(flagged)))
    assert "trace.trace_state" not in listed, "no span has a trace state"
    assert "error" in listed and listed["error"]["type"] == "boolean"


def test_auth_describes_ingest_and_configuration_keys(make_combray):
    combray = make_combray()
    ingest = combray.keys_create("prod", "ingest")
    configuration = combray.keys_create("prod", "configuration")
    combray.start()
    as_ingest = requests.get(f"{combray.api}/1/auth", headers={"x-honeycomb-team": ingest}, timeout=10).json()
    assert as_ingest["type"] == "ingest"
    assert as_ingest["api_key_access"] == {"createDatasets": True}
    assert as_ingest["environment"] == {"name": "prod", "slug": "prod"}
    assert ingest.startswith(as_ingest["id"])
    as_config = requests.get(f"{combray.api}/1/auth", headers={"x-honeycomb-team": configuration}, timeout=10).json()
    assert as_config["type"] == "configuration" and as_config["api_key_access"]["queries"] is True
    unknown = requests.get(f"{combray.api}/1/auth", headers={"x-honeycomb-team": "cmbck_nope"}, timeout=10)
    assert unknown.status_code == 401 and unknown.json() == {"error": "unknown API key - check your credentials"}
    refused = post(combray, "/1/queries/__all__", {}, key=ingest)
    assert refused.status_code == 403


def test_calculated_fields_group_filter_and_aggregate(server):
    spec = {"calculated_fields": [
                {"name": "speed", "expression": 'IF(GT($duration_ms, 50), "slow", "fast")'},
                {"name": "double_ms", "expression": "$duration_ms * 2"},
                {"name": "is_api", "expression": 'STARTS_WITH($http.route, "/api/")'}],
            "breakdowns": ["speed"], "filters": [{"column": "is_api", "op": "=", "value": True}],
            "calculations": [{"op": "COUNT"}, {"op": "SUM", "column": "double_ms"}]}
    data = run(server, spec, disable_series=True)
    api = [e for e in EVENTS if e["http.route"].startswith("/api/")]
    for row in data["results"]:
        group = [e for e in api if ("slow" if e["duration_ms"] > 50 else "fast") == row["data"]["speed"]]
        assert row["data"]["COUNT"] == sum(e["w"] for e in group)
        assert oracle.close(row["data"]["SUM(double_ms)"], sum(2 * e["duration_ms"] * e["w"] for e in group))
    assert {r["data"]["speed"] for r in data["results"]} == {"slow", "fast"}


def test_broken_calculated_fields_are_refused_naming_the_field(server):
    broken = post(server, "/1/queries/__all__", {"calculated_fields": [{"name": "x", "expression": "IF($a)"}]})
    assert broken.status_code == 422
    assert broken.json()["type_detail"][0]["field"] == "calculated_fields[0].expression"
    assert "invalid arguments for op IF" in broken.json()["error"]
    saved = post(server, "/1/queries/__all__", {"calculated_fields": [{"name": "x", "expression": "$no.such + 1"}],
                                               "breakdowns": ["x"]})
    assert saved.status_code == 200
    unknown = post(server, "/1/query_results/__all__", {"query_id": saved.json()["id"]})
    assert unknown.status_code == 422 and "unknown column no.such" in unknown.json()["error"]


def test_the_query_cli_prints_groups_sparklines_and_heatmaps(server, tmp_path):
    import json
    import subprocess
    from conftest import BIN
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"start_time": START, "end_time": END, "breakdowns": ["http.route"],
                                "calculations": [{"op": "COUNT"}], "granularity": 600}))
    answer = subprocess.run([BIN, "query", "--file", str(spec), "--api-url", server.api, "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    rows = {r["data"]["http.route"]: r["data"]["COUNT"] for r in json.loads(answer.stdout)["data"]["results"]}
    assert rows == {route: sum(e["w"] for e in EVENTS if e["http.route"] == route) for route in ROUTES}
    table = subprocess.run([BIN, "query", "--calc", "COUNT", "--calc", "HEATMAP(duration_ms)", "--group-by",
                            "http.route", "--where", "http.route starts-with /api/", "--range", "4h",
                            "--granularity", "600", "--api-url", server.api],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    api_routes = [r for r in ROUTES if r.startswith("/api/")]
    for route in api_routes:
        assert f"| {route}" in table
        assert f"COUNT [{route}]" in table, table
        assert f"HEATMAP(duration_ms) [{route}]" in table
    assert "/healthz" not in table
    bad = subprocess.run([BIN, "query", "--calc", "P98(duration_ms)", "--api-url", server.api],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "calculations[0].op" in bad.stderr


def test_library_event_counts_and_exceptions_are_columns_as_honeycomb_derives_them(combray):
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces")))
    flask = provider.get_tracer("opentelemetry.instrumentation.flask", "0.59b0")
    db = provider.get_tracer("orders.db")
    start = START * 10**9
    expected_events = 0
    for i in range(12):
        tracer = flask if i % 3 else db
        span = tracer.start_span(f"op{i}", start_time=start + i * 10**9)
        for _ in range(i % 4):
            span.add_event("cache.miss", timestamp=start + i * 10**9 + 1)
            expected_events += 1
        if i % 5 == 0:
            span.record_exception(KeyError("cart"), timestamp=start + i * 10**9 + 2)
            expected_events += 1
        span.end(end_time=start + i * 10**9 + 10**6)
    assert provider.force_flush(30_000)
    provider.shutdown()
    deadline = time.time() + 20
    while time.time() < deadline:
        got = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=10)
        if got.json()["rows"][0][0] >= 12:
            break
        time.sleep(0.2)

    spans_only = {"column": "meta.annotation_type", "op": "does-not-exist"}
    data = run(combray, {"breakdowns": ["library.name", "library.version"], "filters": [spans_only],
                         "calculations": [{"op": "COUNT"}, {"op": "SUM", "column": "span.num_events"}],
                         "orders": [{"column": "library.name"}]}, dataset="orders", disable_series=True)
    by_library = {r["data"]["library.name"]: r["data"] for r in data["results"]}
    assert by_library["opentelemetry.instrumentation.flask"]["COUNT"] == 8
    assert by_library["opentelemetry.instrumentation.flask"]["library.version"] == "0.59b0"
    assert by_library["orders.db"]["COUNT"] == 4
    assert sum(r["SUM(span.num_events)"] for r in by_library.values()) == expected_events
    # As in Honeycomb, every span event is an event too: COUNT without the filter counts them.
    everything = run(combray, {}, dataset="orders", disable_series=True)["results"]
    assert everything[0]["data"]["COUNT"] == 12 + expected_events
    misses = sum(i % 4 for i in range(12))
    failures = sum(1 for i in range(12) if i % 5 == 0)
    rows = run(combray, {"breakdowns": ["name", "meta.annotation_type"],
                         "filters": [{"column": "meta.annotation_type", "op": "=", "value": "span_event"}]},
               dataset="orders", disable_series=True)["results"]
    assert {r["data"]["name"]: r["data"]["COUNT"] for r in rows} == {"cache.miss": misses, "exception": failures}
    parents = run(combray, {"breakdowns": ["parent_name"],
                            "filters": [{"column": "name", "op": "=", "value": "exception"}]},
                  dataset="orders", disable_series=True)["results"]
    assert {r["data"]["parent_name"] for r in parents} == {f"op{i}" for i in range(12) if i % 5 == 0}
    failed = run(combray, {"breakdowns": ["exception.type", "exception.message"],
                           "filters": [{"column": "exception.type", "op": "exists"}, spans_only]},
                 dataset="orders", disable_series=True)["results"]
    assert [r["data"] for r in failed] == [{"exception.type": "KeyError", "exception.message": "'cart'", "COUNT": 3}]

    # A link is an event too, at its span's start, naming the span it links to.
    from opentelemetry.trace import Link
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("orders.queue")
    target = tracer.start_span("enqueue", start_time=start + 20 * 10**9)
    target.end(end_time=start + 20 * 10**9 + 1000)
    linked = tracer.start_span("dequeue", start_time=start + 21 * 10**9,
                               links=[Link(target.get_span_context(), {"link.kind": "follows"})])
    linked.end(end_time=start + 21 * 10**9 + 1000)
    assert provider.force_flush(30_000)
    provider.shutdown()
    deadline = time.time() + 20
    links = []
    while time.time() < deadline and not links:
        links = run(combray, {"breakdowns": ["trace.link.trace_id", "trace.link.span_id", "parent_name", "link.kind"],
                              "filters": [{"column": "meta.annotation_type", "op": "=", "value": "link"}]},
                    dataset="orders", disable_series=True)["results"]
        time.sleep(0.2)
    context = target.get_span_context()
    assert [r["data"] for r in links] == [{"trace.link.trace_id": f"{context.trace_id:032x}",
                                           "trace.link.span_id": f"{context.span_id:016x}",
                                           "parent_name": "dequeue", "link.kind": "follows", "COUNT": 1}]
    columns = {c["key_name"]: c["type"] for c in requests.get(f"{combray.api}/1/columns/orders", timeout=10).json()}
    assert columns["library.name"] == "string" and columns["span.num_events"] == "integer"


def test_root_and_parent_columns_read_the_related_span(combray):
    """Relational fields: `root.X` of the trace's root span, `parent.X` of the span's parent."""
    from opentelemetry import trace as otel_trace
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("combray-tests")
    rng = random.Random(4)
    expected_by_root, expected_by_parent = {}, {}
    start = START * 10**9
    for i in range(40):
        entry = rng.choice(["GET /checkout", "GET /cart"])
        t = start + i * 10**9
        root = tracer.start_span(entry, start_time=t, attributes={"tier": rng.choice(["free", "pro"])})
        context = otel_trace.set_span_in_context(root)
        for j in range(rng.randint(1, 3)):
            child = tracer.start_span("db.query", context=context, start_time=t + (j + 1) * 1000)
            grandchild = tracer.start_span("pool.acquire", context=otel_trace.set_span_in_context(child),
                                           start_time=t + (j + 1) * 1000 + 10)
            grandchild.end(end_time=t + (j + 1) * 1000 + 20)
            child.end(end_time=t + (j + 1) * 1000 + 100)
            expected_by_root[(entry, "db.query")] = expected_by_root.get((entry, "db.query"), 0) + 1
            expected_by_root[(entry, "pool.acquire")] = expected_by_root.get((entry, "pool.acquire"), 0) + 1
            expected_by_parent["db.query"] = expected_by_parent.get("db.query", 0) + 1
            expected_by_parent[entry] = expected_by_parent.get(entry, 0) + 1
        root.end(end_time=t + 10**6)
        expected_by_root[(entry, entry)] = expected_by_root.get((entry, entry), 0) + 1
    assert provider.force_flush(30_000)
    provider.shutdown()
    total = sum(expected_by_root.values())
    deadline = time.time() + 20
    while time.time() < deadline:
        got = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=10)
        if got.json()["rows"][0][0] >= total:
            break
        time.sleep(0.2)
    rows = run(combray, {"breakdowns": ["root.name", "name"]}, dataset="shop", disable_series=True)["results"]
    assert {(r["data"]["root.name"], r["data"]["name"]): r["data"]["COUNT"] for r in rows} == expected_by_root
    rows = run(combray, {"breakdowns": ["parent.name"], "filters": [{"column": "parent.name", "op": "exists"}]},
               dataset="shop", disable_series=True)["results"]
    assert {r["data"]["parent.name"]: r["data"]["COUNT"] for r in rows} == expected_by_parent
    only = run(combray, {"filters": [{"column": "root.name", "op": "=", "value": "GET /cart"},
                                     {"column": "name", "op": "=", "value": "pool.acquire"}]},
               dataset="shop", disable_series=True)["results"]
    assert only[0]["data"]["COUNT"] == expected_by_root.get(("GET /cart", "pool.acquire"), 0)


def test_xray_segments_are_events_with_their_annotations_and_causes(combray):
    """Segments sent to the daemon's UDP port answer Honeycomb queries like OTLP spans: their
    annotations are columns and a fault's cause is its exception."""
    import os
    from xray_helpers import send_segments, wait_for
    tiers = ["gold", "silver", "gold", "bronze", "gold", "silver"]
    documents = []
    for i, tier in enumerate(tiers):
        at = START + 60 * i
        document = {"name": "payments", "id": os.urandom(8).hex(), "trace_id": "1-%08x-%s" % (at, os.urandom(12).hex()),
                    "start_time": at, "end_time": at + 0.25, "annotations": {"customer_tier": tier}}
        if i % 3 == 0:
            document["fault"] = True
            document["cause"] = {"working_directory": "/app", "exceptions": [
                {"id": os.urandom(8).hex(), "type": "TimeoutError", "message": "card network timed out"}]}
        documents.append(document)
    send_segments(combray.xray, documents)
    spans_only = {"column": "meta.annotation_type", "op": "does-not-exist"}
    wait_for(lambda: any(d["slug"] == "payments"
                         for d in requests.get(f"{combray.api}/1/datasets", timeout=10).json()))

    def tiers_counted():
        rows = run(combray, {"breakdowns": ["annotation.customer_tier"], "filters": [spans_only]},
                   dataset="payments", disable_series=True)["results"]
        return {r["data"]["annotation.customer_tier"]: r["data"]["COUNT"] for r in rows} if rows else None
    counted = wait_for(lambda: (lambda c: c if c and sum(c.values()) == len(tiers) else None)(tiers_counted()))
    assert counted == {t: tiers.count(t) for t in set(tiers)}
    faults = run(combray, {"breakdowns": ["exception.type", "exception.message"], "filters": [spans_only,
                 {"column": "exception.type", "op": "exists"}]}, dataset="payments", disable_series=True)["results"]
    assert [r["data"] for r in faults] == [{"exception.type": "TimeoutError", "exception.message": "card network timed out",
                                            "COUNT": len([i for i in range(len(tiers)) if i % 3 == 0])}]
    durations = run(combray, {"calculations": [{"op": "MAX", "column": "duration_ms"}], "filters": [spans_only]},
                    dataset="payments", disable_series=True)["results"]
    assert durations[0]["data"]["MAX(duration_ms)"] == 250, "float seconds convert to whole nanoseconds"
