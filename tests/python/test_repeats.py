"""A span delivered twice counts once: a real OTLP exporter resends a batch whose answer it never
got, and every read path (trace by id, search, SQL) still sees each span once."""
import http.server
import threading

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import Combray
from test_blocks import metric, wait_for_cut


class LosingProxy:
    """Forwards OTLP/HTTP to Combray; the first answer is lost (the client gets a 503 instead),
    as when a connection drops after the server stored the batch."""

    def __init__(self, target):
        self.forwarded = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.post(f"{target}{self.path}", data=body, headers=headers, timeout=10)
                proxy.forwarded += 1
                status, payload = (503, b"") if proxy.forwarded == 1 else (answer.status_code, answer.content)
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def sql_counts(combray, trace_id):
    query = ("SELECT count(*), count(DISTINCT span_id) FROM spans "
             f"WHERE trace_id = X'{trace_id}'")
    answer = requests.post(f"{combray.api}/api/v1/sql", json={"sql": query}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"][0]


def test_a_batch_resent_by_the_exporter_is_stored_once(make_combray):
    combray = make_combray(["--block-max-age-seconds", "3"]).start()
    proxy = LosingProxy(combray.otlp_http)
    provider = TracerProvider(resource=Resource.create({"service.name": "backend-flask"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{proxy.url}/v1/traces")))
    tracer = provider.get_tracer("retry-test")
    try:
        with tracer.start_as_current_span("GET /api/activities/home") as root:
            for index in range(6):
                with tracer.start_as_current_span(f"query {index}"):
                    pass
        trace_id = format(root.get_span_context().trace_id, "032x")
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()
        proxy.close()
    assert proxy.forwarded == 2, "the exporter should have resent the batch once"

    assert combray.wait_for_trace(trace_id)["span_count"] == 7
    assert sql_counts(combray, trace_id) == [7, 7]
    hits = combray.get("/api/v1/traces", limit="10").json()["traces"]
    assert [hit["span_count"] for hit in hits if hit["trace_id"] == trace_id] == [7]
    assert metric(combray, "combray_head_repeated_spans_total") == 7

    # The WAL holds both copies; replay keeps one, and so does the block cut from it.
    combray.kill()
    restarted = Combray(combray.data_dir, ["--block-max-age-seconds", "1"]).start()
    try:
        assert sql_counts(restarted, trace_id) == [7, 7]
        wait_for_cut(restarted)
        assert sql_counts(restarted, trace_id) == [7, 7]
    finally:
        restarted.stop()
