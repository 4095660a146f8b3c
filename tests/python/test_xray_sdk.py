"""The X-Ray side of the motivating example: a real Flask app with aws-xray-sdk sending to
Combray's daemon port, configured and read with the real AWS CLI."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from conftest import free_port
from xray_helpers import aws, wait_for, xray_client

HERE = Path(__file__).parent
RULE = {"SamplingRule": {"RuleName": "Cruddur", "ResourceARN": "*", "Priority": 9000, "FixedRate": 0.1,
                         "ReservoirSize": 5, "ServiceName": "Cruddur", "ServiceType": "*", "Host": "*",
                         "HTTPMethod": "*", "URLPath": "*", "Version": 1}}


def run_xray_app(daemon_address):
    port = free_port()
    env = {**os.environ, "AWS_XRAY_DAEMON_ADDRESS": daemon_address, "AWS_XRAY_URL": "*api.cruddur.test*"}
    process = subprocess.Popen([sys.executable, str(HERE / "xray_flask_app.py"), str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            requests.get(f"{base}/health", timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(process.stdout.read().decode())


def sampled_header(trace_id, parent=None):
    header = f"Root={trace_id};Sampled=1"
    return {"X-Amzn-Trace-Id": header if parent is None else f"Root={trace_id};Parent={parent};Sampled=1"}


def test_cli_configures_and_reads_what_the_sdk_sends(make_combray, tmp_path):
    combray = make_combray().start()
    # The team's two commands, exactly as written.
    aws(combray, "xray", "create-group", "--group-name", "Cruddur",
        "--filter-expression", 'service("backend-flask")')
    rule_file = tmp_path / "xray.json"
    rule_file.write_text(json.dumps(RULE))
    aws(combray, "xray", "create-sampling-rule", "--cli-input-json", f"file://{rule_file}")

    groups = json.loads(aws(combray, "xray", "get-groups").stdout)["Groups"]
    assert [g["GroupName"] for g in groups] == ["Default", "Cruddur"]
    assert groups[1]["FilterExpression"] == 'service("backend-flask")'
    rules = json.loads(aws(combray, "xray", "get-sampling-rules").stdout)["SamplingRuleRecords"]
    by_name = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in rules}
    assert by_name["Cruddur"]["ReservoirSize"] == 5 and by_name["Cruddur"]["Attributes"] == {}
    assert by_name["Default"]["Priority"] == 10000

    app, base = run_xray_app(combray.xray)
    try:
        home = requests.get(f"{base}/api/activities/home", headers=sampled_header("1-%08x-%s" % (int(time.time()), os.urandom(12).hex())), timeout=10)
        trace_id = home.json()["trace_id"]
        failing_trace = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
        assert requests.get(f"{base}/api/fail", headers=sampled_header(failing_trace), timeout=10).status_code == 500
        named_trace = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
        requests.get(f"{base}/health", headers={**sampled_header(named_trace), "Host": "api.cruddur.test"}, timeout=10)
        # Requests without a decision go through the SDK's centralized sampler (our TCP port).
        for _ in range(5):
            requests.get(f"{base}/health", timeout=10)
        start, end = int(time.time()) - 600, int(time.time()) + 600
        window = ["--start-time", str(start), "--end-time", str(end)]

        def summaries(expression):
            result = aws(combray, "xray", "get-trace-summaries", *window, "--filter-expression", expression)
            return {s["Id"]: s for s in json.loads(result.stdout)["TraceSummaries"]}

        found = wait_for(lambda: summaries('service("backend-flask") AND annotation.result_length = 1'))
        assert set(found) == {trace_id}
        summary = found[trace_id]
        assert summary["Http"]["HttpURL"].endswith("/api/activities/home")
        assert summary["Http"]["HttpStatus"] == 200
        assert summary["Annotations"]["result_length"][0]["AnnotationValue"] == {"NumberValue": 1.0}

        faults = wait_for(lambda: summaries("fault"))
        assert failing_trace in faults and trace_id not in faults
        assert faults[failing_trace]["HasFault"] is True
        assert wait_for(lambda: summaries('service("api.cruddur.test")')).keys() == {named_trace}
        syntax = aws(combray, "xray", "get-trace-summaries", *window, "--filter-expression", "service(", check=False)
        assert syntax.returncode != 0 and "InvalidRequestException" in syntax.stderr and "character" in syntax.stderr

        traces = json.loads(aws(combray, "xray", "batch-get-traces", "--trace-ids", trace_id).stdout)["Traces"]
        assert len(traces) == 1
        documents = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
        assert [d["name"] for d in documents] == ["backend-flask"]
        # Combray's own search calls the X-Ray trace by the request its segment served.
        hits = combray.get("/api/v1/traces", service="backend-flask", limit="100").json()["traces"]
        hit = [h for h in hits if h["trace_id"] == "".join(trace_id.split("-")[1:])][0]
        assert (hit["root_service"], hit["root_name"]) == ("backend-flask", "GET /api/activities/home")
        mock = [s for s in documents[0]["subsegments"] if s["name"] == "mock-data"][0]
        # Streamed on its own (threshold 1), then served back inside its segment.
        assert [s["name"] for s in mock["subsegments"]] == ["db-query"]
        assert mock["annotations"] == {"result_length": 1}
        assert "now" in mock["metadata"]["cruddur"]

        graph = json.loads(aws(combray, "xray", "get-service-graph", *window, "--group-name", "Cruddur").stdout)
        names = {(s["Name"], s.get("Type")) for s in graph["Services"]}
        assert ("backend-flask", None) in names and ("backend-flask", "client") in names
        flask_node = [s for s in graph["Services"] if s["Name"] == "backend-flask" and s.get("Type") != "client"][0]
        assert flask_node["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
        # The group's filter keeps only backend-flask's traces out of everything stored.
        assert all(s["Name"] != "api.cruddur.test" for s in graph["Services"])

        # The SDK polled our TCP port for rules and, ~10 s later, reported its statistics.
        stats = wait_for(lambda: xray_client(combray.api).get_sampling_statistic_summaries()["SamplingStatisticSummaries"], timeout=30)
        assert sum(s["RequestCount"] for s in stats) >= 1
    finally:
        app.kill()
        app.wait()

    # Groups and rules survive a restart.
    combray.stop()
    combray.start()
    assert [g["GroupName"] for g in json.loads(aws(combray, "xray", "get-groups").stdout)["Groups"]] == ["Default", "Cruddur"]


def test_a_request_across_otel_and_xray_services_is_one_trace(make_combray):
    combray = make_combray().start()
    app, base = run_xray_app(combray.xray)
    provider = TracerProvider(resource=Resource.create({"service.name": "frontend"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{combray.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("frontend")
    try:
        with tracer.start_as_current_span("GET /api/activities/home") as span:
            context = span.get_span_context()
            hex_id = format(context.trace_id, "032x")
            xray_id = f"1-{hex_id[:8]}-{hex_id[8:]}"
            # What the OpenTelemetry X-Ray propagator would send.
            headers = sampled_header(xray_id, parent=format(context.span_id, "016x"))
            assert requests.get(f"{base}/api/activities/home", headers=headers, timeout=10).status_code == 200
        provider.force_flush()
    finally:
        app.kill()
        app.wait()
    trace = combray.wait_for_trace(hex_id, min_spans=4)
    assert trace["services"] == ["backend-flask", "frontend"]
    assert {s["protocol"] for s in trace["spans"]} == {"otlp_http_protobuf", "xray"}
    flask_root = [s for s in trace["spans"] if s["service"] == "backend-flask" and s["name"] == "backend-flask"][0]
    assert flask_root["parent_span_id"] == format(context.span_id, "016x")

    traces = wait_for(lambda: xray_client(combray.api).batch_get_traces(TraceIds=[xray_id])["Traces"])
    segments = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
    assert len(segments) == 2
    otel = [s for s in segments if s["name"] == "frontend"][0]
    flask = [s for s in segments if s["name"] == "backend-flask"][0]
    assert flask["parent_id"] == otel["id"] and otel["trace_id"] == xray_id
