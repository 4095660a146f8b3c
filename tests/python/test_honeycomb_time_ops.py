"""CONCURRENCY, RATE_AVG/SUM/MAX, formulas and other_by_aggregate over spans sent by the
OpenTelemetry Python SDK, checked against an independent computation in this file.

The spans are long (up to five minutes) so CONCURRENCY spreads them over several buckets, and
each carries a counter that grows over time, which is what RATE_* is for.
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

from conftest import Combray
from honeycomb_oracle import close

END = (int(time.time()) // 3600) * 3600 - 3600
START = END - 3600
GRANULARITY = 300
QUEUES = ["email", "billing", "search", "thumbnails"]


def make_jobs(seed=11, count=300):
    rng = random.Random(seed)
    jobs = []
    for i in range(count):
        start_ns = int((START + rng.uniform(0, 3599)) * 1e9)
        duration_ns = int(rng.uniform(0, 300) * 1e9)
        jobs.append({
            "queue": rng.choice(QUEUES),
            "w": rng.choice([1, 1, 1, 4]),
            "start": start_ns,
            "end": start_ns + duration_ns,
            "error": rng.random() < 0.15,
        })
    jobs.sort(key=lambda j: j["start"])
    # A counter per queue that only grows, as a metric scraped onto each span would.
    totals = {q: 0 for q in QUEUES}
    for job in jobs:
        totals[job["queue"]] += random.Random(job["start"]).randint(1, 20)
        job["processed"] = totals[job["queue"]]
    return jobs


JOBS = make_jobs()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    combray = Combray(tmp_path_factory.mktemp("time-ops") / "data").start()
    provider = TracerProvider(resource=Resource.create({"service.name": "worker"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("combray-tests")
    for job in JOBS:
        attributes = {"queue": job["queue"], "jobs.processed": job["processed"], "SampleRate": job["w"]}
        span = tracer.start_span("run job", start_time=job["start"], attributes=attributes)
        if job["error"]:
            span.set_status(Status(StatusCode.ERROR, "failed"))
        span.end(end_time=job["end"])
    assert provider.force_flush(30_000)
    provider.shutdown()
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=10)
        if rows.json()["rows"][0][0] >= len(JOBS):
            break
        time.sleep(0.2)
    yield combray
    combray.stop()


def run(server, spec, **options):
    spec = {"start_time": START, "end_time": END, "granularity": GRANULARITY, **spec}
    saved = requests.post(f"{server.api}/1/queries/worker", json=spec, timeout=30)
    assert saved.status_code == 200, saved.text
    created = requests.post(f"{server.api}/1/query_results/worker", json={"query_id": saved.json()["id"], **options}, timeout=60)
    assert created.status_code == 201, created.text
    result = requests.get(f"{server.api}{created.headers['Location']}", timeout=10)
    assert result.status_code == 200, result.text
    return result.json()


def buckets():
    first = (START // GRANULARITY) * GRANULARITY
    return list(range(first, END, GRANULARITY))


def concurrency(jobs, lo, hi):
    """Spans in flight over [lo, hi) seconds, each weighted, clipped to the query's end."""
    lo_ns, hi_ns, end_ns = lo * 10**9, hi * 10**9, END * 10**9
    covered = sum(j["w"] * max(0, min(j["end"], hi_ns, end_ns) - max(j["start"], lo_ns)) for j in jobs)
    return covered / (hi_ns - lo_ns)


def in_bucket(jobs, b):
    return [j for j in jobs if b * 10**9 <= j["start"] < (b + GRANULARITY) * 10**9]


def base_value(jobs, op):
    if op == "RATE_SUM":
        return sum(j["processed"] * j["w"] for j in jobs)
    if op == "RATE_AVG":
        return sum(j["processed"] * j["w"] for j in jobs) / sum(j["w"] for j in jobs)
    return max(j["processed"] for j in jobs)


def rates(jobs, op):
    """Per bucket with events: the change of the aggregate from the previous such bucket."""
    values = [(b, base_value(in_bucket(jobs, b), op)) for b in buckets() if in_bucket(jobs, b)]
    changes = {b: v - values[i - 1][1] for i, (b, v) in enumerate(values) if i > 0}
    mean = (values[-1][1] - values[0][1]) / (len(values) - 1) if len(values) > 1 else None
    return changes, mean


def rfc3339(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_concurrency_spreads_each_span_over_the_buckets_it_covers(server):
    body = run(server, {"calculations": [{"op": "CONCURRENCY"}], "breakdowns": ["queue"]})
    data = body["data"]
    for row in data["results"]:
        jobs = [j for j in JOBS if j["queue"] == row["data"]["queue"]]
        assert close(row["data"]["CONCURRENCY"], concurrency(jobs, START, END), 1e-9), row
    points = {(p["time"], p["data"]["queue"]): p["data"]["CONCURRENCY"] for p in data["series"]}
    assert len(points) == len(buckets()) * len(QUEUES)
    for queue in QUEUES:
        jobs = [j for j in JOBS if j["queue"] == queue]
        for b in buckets():
            expected = concurrency(jobs, b, b + GRANULARITY)
            assert close(points[(rfc3339(b), queue)], expected, 1e-9), (queue, b)
    later = [j for j in JOBS if j["start"] // 10**9 // GRANULARITY < j["end"] // 10**9 // GRANULARITY]
    assert later, "the data has spans that cross bucket boundaries"


@pytest.mark.parametrize("op", ["RATE_SUM", "RATE_AVG", "RATE_MAX"])
def test_rates_are_differences_between_buckets(server, op):
    body = run(server, {"calculations": [{"op": op, "column": "jobs.processed"}], "breakdowns": ["queue"],
                        "orders": [{"column": "queue"}]})
    key = f"{op}(jobs.processed)"
    data = body["data"]
    assert [r["data"]["queue"] for r in data["results"]] == sorted(QUEUES)
    for row in data["results"]:
        _, mean = rates([j for j in JOBS if j["queue"] == row["data"]["queue"]], op)
        assert close(row["data"][key], mean, 1e-9), row
    for queue in QUEUES:
        changes, _ = rates([j for j in JOBS if j["queue"] == queue], op)
        got = {p["time"]: p["data"].get(key) for p in data["series"] if p["data"]["queue"] == queue}
        for b in buckets():
            expected = changes.get(b)
            if expected is None:
                assert got[rfc3339(b)] is None, (queue, b)
            else:
                assert close(got[rfc3339(b)], expected, 1e-9), (queue, b)


def test_formulas_replace_the_calculations_and_can_be_ordered_and_filtered(server):
    spec = {
        "calculations": [{"op": "COUNT", "name": "total"},
                         {"op": "COUNT", "name": "errors", "filters": [{"column": "error", "op": "=", "value": True}]}],
        "formulas": [{"name": "error_rate", "expression": "DIV($errors, $total)"},
                     {"name": "ok", "expression": "$total - $errors"}],
        "breakdowns": ["queue"],
        "orders": [{"column": "error_rate", "order": "descending"}],
        "havings": [{"calculate_op": "COUNT", "column": "ok", "op": ">", "value": 0}],
    }
    data = run(server, spec, disable_total_by_aggregate=False)["data"]
    expected = {}
    for queue in QUEUES:
        jobs = [j for j in JOBS if j["queue"] == queue]
        total = sum(j["w"] for j in jobs)
        errors = sum(j["w"] for j in jobs if j["error"])
        expected[queue] = (errors / total, total - errors)
    order = sorted(QUEUES, key=lambda q: -expected[q][0])
    assert [r["data"]["queue"] for r in data["results"]] == order
    for row in data["results"]:
        rate, ok = expected[row["data"]["queue"]]
        assert set(row["data"]) == {"queue", "error_rate", "ok"}, "formulas replace the calculations"
        assert close(row["data"]["error_rate"], rate, 1e-12)
        assert row["data"]["ok"] == ok
    total = sum(j["w"] for j in JOBS)
    errors = sum(j["w"] for j in JOBS if j["error"])
    assert close(data["total_by_aggregate"]["error_rate"], errors / total, 1e-12)
    # A bucket without events: DIV by zero is null (left out), the difference is 0.
    empty = [p for p in data["series"] if "error_rate" not in p["data"]]
    assert all(p["data"]["ok"] == 0 for p in empty)


def test_other_by_aggregate_holds_the_groups_the_limit_left_out(server):
    spec = {"calculations": [{"op": "COUNT"}, {"op": "MAX", "column": "jobs.processed"}],
            "breakdowns": ["queue"], "limit": 2}
    data = run(server, spec, disable_series=True, disable_other_by_aggregate=False,
               disable_total_by_aggregate=False)["data"]
    counts = {q: sum(j["w"] for j in JOBS if j["queue"] == q) for q in QUEUES}
    kept = sorted(QUEUES, key=lambda q: (-counts[q], q))[:2]
    assert [r["data"]["queue"] for r in data["results"]] == kept
    rest = [j for j in JOBS if j["queue"] not in kept]
    assert data["other_by_aggregate"]["COUNT"] == sum(j["w"] for j in rest)
    assert data["other_by_aggregate"]["MAX(jobs.processed)"] == max(j["processed"] for j in rest)
    assert data["total_by_aggregate"]["COUNT"] == sum(j["w"] for j in JOBS)


@pytest.mark.parametrize("spec,field,message", [
    ({"calculations": [{"op": "CONCURRENCY", "column": "queue"}]}, "calculations[0].column", "does not take a column"),
    ({"calculations": [{"op": "RATE_SUM"}]}, "calculations[0].column", "requires a column"),
    ({"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "formulas": [{"name": "f", "expression": "1"}]},
     "formulas", "HEATMAP"),
    ({"calculations": [{"op": "COUNT", "name": "n"}], "formulas": [{"name": "f", "expression": "$nope * 2"}]},
     "formulas[0].expression", "unknown column nope"),
    ({"calculations": [{"op": "COUNT", "name": "n"}], "formulas": [{"name": "n", "expression": "$n"}]},
     "formulas[0].name", "duplicate name"),
])
def test_bad_formulas_and_time_operators_are_refused_naming_the_field(server, spec, field, message):
    answer = requests.post(f"{server.api}/1/queries/worker", json={"time_range": 3600, **spec}, timeout=10)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type_detail"][0]["field"] == field, problem
    assert message in problem["type_detail"][0]["description"], problem
