"""The motivating example's Flask service, instrumented exactly as its write-up does.

Run as a subprocess by the tests: `python flask_app.py PORT`. The exporter is chosen with
COMBRAY_TEST_EXPORTER=http|grpc; everything else comes from the standard OTEL_* variables.
"""
import os
import sys
from datetime import datetime, timezone

from flask import Flask, jsonify
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

if os.environ.get("COMBRAY_TEST_EXPORTER") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

# Initialize tracing and an exporter that can send data to Honeycomb (here: Combray)
provider = TracerProvider()
processor = BatchSpanProcessor(OTLPSpanExporter())
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer(__name__)

# Initialize automatic instrumentation with Flask
app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)
RequestsInstrumentor().instrument()


@app.route("/api/activities/home")
def home_activities():
    with tracer.start_as_current_span("home-activities-mock-data"):
        span = trace.get_current_span()
        now = datetime.now(timezone.utc).astimezone()
        span.set_attribute("app.now", now.isoformat())
        results = [{"uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee", "handle": "Andrew Brown"}]
        span.set_attribute("app.result_length", len(results))
        trace_id = format(span.get_span_context().trace_id, "032x")
    return jsonify({"results": results, "trace_id": trace_id})


@app.route("/flush", methods=["POST"])
def flush():
    provider.force_flush()
    return "flushed"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
