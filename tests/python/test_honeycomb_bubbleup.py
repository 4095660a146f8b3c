"""BubbleUp over spans sent by the OpenTelemetry Python SDK: the slow spans share one region."""
import random
import time

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

END = (int(time.time()) // 60) * 60 - 60
START = END - 1800
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"]


def events(seed=3, count=600):
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        slow = rng.random() < 0.1
        made.append({
            "region": "ap-south-1" if slow else rng.choice(REGIONS),
            "tier": rng.choice(["free", "pro", "enterprise"]),
            "route": rng.choice(["/a", "/b", "/c"]),
            "ms": rng.uniform(800, 1200) if slow else rng.uniform(5, 80),
            "t": START + rng.uniform(0, 1790),
        })
    return made


def send(endpoint, made):
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("combray-tests")
    for e in made:
        start = int(e["t"] * 1e9)
        span = tracer.start_span(f"GET {e['route']}", start_time=start,
                                 attributes={"region": e["region"], "tier": e["tier"], "http.route": e["route"]})
        span.end(end_time=start + int(e["ms"] * 1e6))
    assert provider.force_flush(30_000)
    provider.shutdown()


def wait_for(combray, count):
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = requests.post(f"{combray.api}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=10)
        if rows.json()["rows"][0][0] >= count:
            return
        time.sleep(0.2)
    raise AssertionError("spans did not arrive")


def test_the_attribute_the_slow_spans_share_ranks_first(combray):
    made = events()
    send(combray.otlp_http, made)
    wait_for(combray, len(made))
    query = {"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "start_time": START, "end_time": END}
    box = {"heatmap": {"column": "duration_ms", "start_time": START, "end_time": END, "min": 500, "max": 5000}}
    answer = requests.post(f"{combray.api}/api/v1/bubbleup", json={"dataset": "checkout", "query": query,
                                                                   "selection": box}, timeout=30)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    slow = [e for e in made if e["ms"] >= 500]
    assert result["selection_count"] == len(slow)
    assert result["baseline_count"] == len(made) - len(slow)
    top = result["columns"][0]
    assert top["column"] == "region", [c["column"] for c in result["columns"]]
    shares = {s["value"]: s for s in top["shares"]}
    rest = [e for e in made if e["ms"] < 500]
    assert shares["ap-south-1"]["selection"] == 1.0
    expected_baseline = sum(e["region"] == "ap-south-1" for e in rest) / len(rest)
    assert abs(shares["ap-south-1"]["baseline"] - expected_baseline) < 1e-9
    names = [c["column"] for c in result["columns"]]
    assert "duration_ms" not in names, "the selection's own column is left out"
    assert "trace.trace_id" not in names and "trace.span_id" not in names
    scores = [c["score"] for c in result["columns"]]
    assert scores == sorted(scores, reverse=True)

    # One group as the selection: then duration is what sets the region apart.
    group = {"group": {"region": "ap-south-1"}}
    by_group = requests.post(f"{combray.api}/api/v1/bubbleup", json={"query": query, "selection": group}, timeout=30)
    assert by_group.status_code == 200, by_group.text
    columns = by_group.json()["columns"]
    assert columns[0]["column"] == "duration_ms" and columns[0]["kind"] == "measure"
    bins = columns[0]["shares"]
    in_region = [e for e in made if e["region"] == "ap-south-1"]
    assert abs(sum(b["selection"] for b in bins) - 1.0) < 1e-9
    top_bin = bins[-1]
    expected = sum(e["ms"] >= top_bin["min"] for e in in_region) / len(in_region)
    assert abs(top_bin["selection"] - expected) < 1e-9


def test_a_selection_with_no_events_or_a_bad_shape_is_refused(combray):
    query = {"time_range": 600}
    empty = requests.post(f"{combray.api}/api/v1/bubbleup", json={"query": query, "selection": {
        "filters": [{"column": "region", "op": "=", "value": "nowhere"}]}}, timeout=30)
    assert empty.status_code == 422 and empty.json()["type_detail"][0]["field"] == "selection"
    shape = requests.post(f"{combray.api}/api/v1/bubbleup", json={"query": query, "selection": {"box": {}}}, timeout=30)
    assert shape.status_code == 400 and "box" in shape.json()["error"]


def test_combray_bubbleup_prints_the_most_different_column_first(combray):
    import json
    import subprocess
    from conftest import BIN
    made = events(seed=5)
    send(combray.otlp_http, made)
    wait_for(combray, len(made))
    command = [BIN, "bubbleup", "--dataset", "checkout", "--calc", "HEATMAP(duration_ms)", "--range", "1h",
               "--selection-box", "duration_ms:500:5000", "--api-url", combray.api]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    slow = [e for e in made if e["ms"] >= 500]
    assert printed.splitlines()[0] == f"selection: {len(slow)} events, baseline: {len(made) - len(slow)} events"
    first = [line for line in printed.splitlines() if line and not line.startswith(" ")][1]
    assert first.startswith("region  score "), printed
    assert "ap-south-1" in printed and "selection 100.0%" in printed
    grouped = subprocess.run([BIN, "bubbleup", "--dataset", "checkout", "--range", "1h", "--json",
                              "--selection-group", "region=ap-south-1", "--api-url", combray.api],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    answer = json.loads(grouped)
    assert answer["selection_count"] == sum(e["region"] == "ap-south-1" for e in made)
    both = subprocess.run([BIN, "bubbleup", "--range", "1h", "--selection-group", "a=b",
                           "--selection-where", "x exists", "--api-url", combray.api],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode != 0 and "exactly one of" in both.stderr


def test_a_large_baseline_is_sampled_and_still_ranks_and_shares_right(combray):
    """120,000 events through the Events API: the baseline is past BubbleUp's per-side sample, so
    its shares come from a sample; they must still be close to the exact ones."""
    import json
    rng = random.Random(9)
    made = []
    for _ in range(120_000):
        slow = rng.random() < 0.05
        made.append({"region": "ap-south-1" if slow and rng.random() < 0.9 else rng.choice(REGIONS),
                     "tier": rng.choice(["free", "pro", "enterprise"]),
                     "duration_ms": rng.uniform(800, 1200) if slow else rng.uniform(5, 80),
                     "t": START + rng.uniform(0, 1790)})
    for i in range(0, len(made), 20_000):
        body = [{"data": {"region": e["region"], "tier": e["tier"], "duration_ms": e["duration_ms"]},
                 "time": e["t"]} for e in made[i:i + 20_000]]
        sent = requests.post(f"{combray.api}/1/batch/jobs", data=json.dumps(body), timeout=120)
        assert sent.status_code == 200 and all(s["status"] == 202 for s in sent.json())
    wait_for(combray, len(made))
    query = {"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "start_time": START, "end_time": END}
    box = {"heatmap": {"column": "duration_ms", "start_time": START, "end_time": END, "min": 500, "max": 5000}}
    answer = requests.post(f"{combray.api}/api/v1/bubbleup", json={"dataset": "jobs", "query": query,
                                                                   "selection": box}, timeout=120).json()
    slow = [e for e in made if e["duration_ms"] >= 500]
    rest = [e for e in made if e["duration_ms"] < 500]
    assert answer["selection_count"] == len(slow) and answer["baseline_count"] == len(rest), "counts stay exact"
    top = answer["columns"][0]
    assert top["column"] == "region", [c["column"] for c in answer["columns"]]
    for share in top["shares"]:
        exact_selection = sum(e["region"] == share["value"] for e in slow) / len(slow)
        exact_baseline = sum(e["region"] == share["value"] for e in rest) / len(rest)
        assert abs(share["selection"] - exact_selection) < 0.02, share
        assert abs(share["baseline"] - exact_baseline) < 0.02, share
