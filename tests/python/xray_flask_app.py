"""The motivating example's Flask service instrumented with the AWS X-Ray SDK, as its write-up
does (middleware, dynamic naming, a custom subsegment with an annotation and metadata).

Run as a subprocess: `python xray_flask_app.py PORT`. AWS_XRAY_DAEMON_ADDRESS points the SDK
at Combray's daemon port (UDP segments, TCP centralized sampling). The streaming threshold is
1, so finished subsegments are sent on their own before their segment.
"""
import os
import sys
import time
from datetime import datetime, timezone

from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.ext.flask.middleware import XRayMiddleware
from flask import Flask, jsonify

app = Flask(__name__)
xray_url = os.getenv("AWS_XRAY_URL")
xray_recorder.configure(service="backend-flask", dynamic_naming=xray_url, streaming_threshold=1)
XRayMiddleware(app, xray_recorder)


@app.route("/api/activities/home")
def home_activities():
    with xray_recorder.in_subsegment("mock-data") as subsegment:
        now = datetime.now(timezone.utc).astimezone()
        results = [{"uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee", "handle": "Andrew Brown"}]
        subsegment.put_annotation("result_length", len(results))
        subsegment.put_metadata("now", now.isoformat(), "cruddur")
        with xray_recorder.in_subsegment("db-query"):
            time.sleep(0.01)
    segment = xray_recorder.current_segment()
    return jsonify({"results": results, "trace_id": segment.trace_id})


@app.route("/api/fail")
def fail():
    raise ValueError("the mock data store is down")


@app.route("/health")
def health():
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
