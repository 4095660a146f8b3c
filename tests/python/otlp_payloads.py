"""OTLP request builders for the tests."""
import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def new_trace_id():
    return os.urandom(16)


def span(trace_id, span_id, name="GET /api/activities/home", parent=b"", attributes=None, start=1_700_000_000_000_000_000):
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name, kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start, end_time_unix_nano=start + 25_000_000,
        attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in (attributes or {}).items()],
    )


def request(spans, service="backend-flask"):
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]),
        scope_spans=[ScopeSpans(spans=spans)],
    )])


def one_span_request(trace_id=None, service="backend-flask", padding=0):
    trace_id = trace_id or new_trace_id()
    attributes = {"pad": "x" * padding} if padding else None
    return trace_id, request([span(trace_id, os.urandom(8), attributes=attributes)], service=service)


def json_request(trace_hex, span_hex="eee19b7ec3c1b174", service="backend-flask"):
    return {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [{
                "traceId": trace_hex.upper(), "spanId": span_hex, "parentSpanId": "",
                "name": "GET /json", "kind": 2,
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000000200000000,
                "attributes": [{"key": "http.status_code", "value": {"intValue": "201"}},
                               {"key": "ratio", "value": {"doubleValue": 0.5}}],
                "status": {"code": 2, "message": "boom"},
            }]}],
        }]
    }
