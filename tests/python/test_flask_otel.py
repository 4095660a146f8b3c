"""A real Flask app with the OpenTelemetry Python SDK, pointed at Combray as at Honeycomb."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port

HERE = Path(__file__).parent


def run_flask_app(exporter, endpoint, key):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-honeycomb-team={key}",
        "OTEL_SERVICE_NAME": "backend-flask",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "COMBRAY_TEST_EXPORTER": exporter,
    })
    process = subprocess.Popen([sys.executable, str(HERE / "flask_app.py"), str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            requests.get(f"{base}/nothing", timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(process.stdout.read().decode())


@pytest.mark.parametrize("exporter", ["http", "grpc"])
def test_flask_request_becomes_one_trace_fetched_by_id(make_combray, exporter):
    combray = make_combray()
    ingest_key = combray.keys_create("aws-bootcamp-cruddur", "ingest")
    read_key = combray.keys_create("aws-bootcamp-cruddur", "configuration")
    combray.start()
    endpoint = combray.otlp_http if exporter == "http" else f"http://{combray.otlp_grpc}"
    app, base = run_flask_app(exporter, endpoint, ingest_key)
    try:
        response = requests.get(f"{base}/api/activities/home", timeout=10)
        assert response.status_code == 200
        trace_id = response.json()["trace_id"]
        requests.post(f"{base}/flush", timeout=30)
        trace = combray.wait_for_trace(trace_id, key=read_key, min_spans=2)
    finally:
        app.kill()
        app.wait()

    assert trace["trace_id"] == trace_id
    assert trace["services"] == ["backend-flask"]
    spans = {span["name"]: span for span in trace["spans"]}
    server = spans["GET /api/activities/home"]
    assert server["kind"] == "server"
    assert server["parent_span_id"] is None
    assert server["depth"] == 0
    assert server["attributes"]["http.route"] == "/api/activities/home"
    assert server["attributes"]["http.status_code"] == 200
    assert server["resource"]["service.name"] == "backend-flask"
    assert server["scope"]["name"] == "opentelemetry.instrumentation.flask"
    assert server["protocol"] == ("otlp_http_protobuf" if exporter == "http" else "otlp_grpc")
    child = spans["home-activities-mock-data"]
    assert child["parent_span_id"] == server["span_id"]
    assert child["depth"] == 1
    assert child["attributes"]["app.result_length"] == 1
    assert "app.now" in child["attributes"]
    # The same trace through search, scoped by the configuration key's environment.
    found = combray.get("/api/v1/traces", key=read_key, service="backend-flask",
                        name="GET /api/activities/home").json()
    assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    assert found["traces"][0]["root_name"] == "GET /api/activities/home"
    assert combray.get("/api/v1/services", key=read_key).json()["services"] == ["backend-flask"]
    operations = combray.get("/api/v1/services/backend-flask/operations", key=read_key).json()["operations"]
    assert {"name": "GET /api/activities/home", "span_kinds": ["server"]} in operations
