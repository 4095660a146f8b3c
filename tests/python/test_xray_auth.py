"""What a SigV4 signature binds, checked with requests botocore signed and then altered, and what
the daemon's keyless port may do and where its segments land."""
import datetime
import hashlib
import json
import time
from unittest import mock

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from xray_helpers import new_trace_id, send_segments, wait_for, xray_client

RULE = {"RuleName": "cruddur", "ResourceARN": "*", "Priority": 10, "FixedRate": 0.5, "ReservoirSize": 1,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1}


class SignerWithoutHost(SigV4Auth):
    """botocore's signer, leaving `host` out of the signed headers (botocore always adds it)."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


def signed(endpoint, access_key, secret, body, shift_seconds=0, extra_headers=None, skip_host=False):
    """A CreateGroup POST signed by botocore's SigV4 signer, as prepared headers and body."""
    request = AWSRequest(method="POST", url=f"{endpoint}/CreateGroup", data=body,
                         headers={"Content-Type": "application/json", **(extra_headers or {})})
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=now + datetime.timedelta(seconds=shift_seconds)):
        signer = (SignerWithoutHost if skip_host else SigV4Auth)(Credentials(access_key, secret), "xray", "us-east-1")
        signer.add_auth(request)
    return dict(request.headers.items()), request.body


def post(endpoint, headers, body):
    response = requests.post(f"{endpoint}/CreateGroup", headers=headers, data=body, timeout=10)
    return response.status_code, response.headers.get("x-amzn-ErrorType"), response.json().get("message", "")


def test_a_signature_binds_body_headers_key_and_time(make_combray):
    combray = make_combray()
    access_key, secret = combray.keys_create("prod", "aws").split()
    combray.start()
    body = json.dumps({"GroupName": "signed"})

    headers, sent = signed(combray.api, access_key, secret, body)
    assert post(combray.api, headers, sent)[0] == 200

    mismatch = ("InvalidSignatureException", "The request signature we calculated does not match the signature "
                "you provided. Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.")
    # The body changed after signing.
    headers, _ = signed(combray.api, access_key, secret, body)
    status, code, message = post(combray.api, headers, json.dumps({"GroupName": "tampered"}))
    assert (status, code, message) == (403, *mismatch)
    # ... with a forged x-amz-content-sha256 claiming the signed body's hash.
    headers, _ = signed(combray.api, access_key, secret, body)
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(body.encode()).hexdigest()
    status, code, message = post(combray.api, headers, json.dumps({"GroupName": "forged"}))
    assert (status, code) == (403, "InvalidSignatureException")
    assert message == "The provided 'x-amz-content-sha256' header does not match what was computed."
    # UNSIGNED-PAYLOAD is S3's; X-Ray signs its body.
    headers, sent = signed(combray.api, access_key, secret, body,
                           extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, code, message = post(combray.api, headers, sent)
    assert (status, code) == (403, "InvalidSignatureException") and "UNSIGNED-PAYLOAD" in message
    # The wrong secret.
    headers, sent = signed(combray.api, access_key, "y" * 40, body)
    assert post(combray.api, headers, sent) == (403, *mismatch)
    # A signature from 20 minutes ago (a replay) and from 20 minutes ahead.
    headers, sent = signed(combray.api, access_key, secret, body, shift_seconds=-1200)
    status, code, message = post(combray.api, headers, sent)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired: ") and message.endswith(" - 15 min.)")
    headers, sent = signed(combray.api, access_key, secret, body, shift_seconds=1200)
    status, code, message = post(combray.api, headers, sent)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("Signature not yet current: ")
    # Host left out of the signed headers.
    headers, sent = signed(combray.api, access_key, secret, body, skip_host=True)
    assert "host" not in headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    status, code, message = post(combray.api, headers, sent)
    assert (status, code) == (403, "IncompleteSignatureException")
    assert message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."

    groups = [g["GroupName"] for g in xray_client(combray.api, access_key, secret).get_groups()["Groups"]]
    assert "signed" in groups and not {"tampered", "forged"} & set(groups)


def test_the_daemon_port_serves_only_the_daemons_calls_in_an_explicit_environment(make_combray):
    """The README's quickstart: keys for aws-bootcamp-cruddur, the daemon port in that environment."""
    env = "aws-bootcamp-cruddur"
    combray = make_combray(["--xray-environment", env])
    read_key = combray.keys_create(env, "configuration")
    access_key, secret = combray.keys_create(env, "aws").split()
    combray.start()
    assert f"writes to and answers from environment {env}" in combray.log()
    assert "none for environment" not in combray.log()

    # A rule made on the API port with the environment's AWS key reaches the SDK's poller.
    xray_client(combray.api, access_key, secret).create_sampling_rule(SamplingRule=RULE)
    daemon = xray_client(f"http://{combray.xray}")
    names = [r["SamplingRule"]["RuleName"] for r in daemon.get_sampling_rules()["SamplingRuleRecords"]]
    assert "cruddur" in names
    targets = daemon.get_sampling_targets(SamplingStatisticsDocuments=[{
        "RuleName": "cruddur", "ClientID": "0" * 24, "Timestamp": time.time(), "RequestCount": 1,
        "SampledCount": 1, "BorrowCount": 0}])
    assert [t["RuleName"] for t in targets["SamplingTargetDocuments"]] == ["cruddur"]

    # Reads and the control plane are not served on the keyless port.
    for operation in ("Groups", "TraceSummaries", "CreateSamplingRule"):
        response = requests.post(f"http://{combray.xray}/{operation}", json={}, timeout=10)
        assert response.status_code == 403
        assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert "API port" in response.json()["message"]

    # Segments sent to the UDP port are read with the environment's key.
    trace_id = new_trace_id()
    now = time.time()
    send_segments(combray.xray, [{"trace_id": trace_id, "id": "00000000000000d1", "name": "backend-flask",
                                  "start_time": now - 1, "end_time": now}])
    otel_id = trace_id[2:10] + trace_id[11:]
    wait_for(lambda: combray.get(f"/api/v1/traces/{otel_id}", key=read_key).status_code == 200)


def test_keys_without_one_for_the_daemon_environment_are_warned_about(make_combray):
    combray = make_combray()
    combray.keys_create("aws-bootcamp-cruddur", "configuration")
    combray.start()
    log = combray.log()
    assert "writes to and answers from environment default" in log
    assert "keys exist, but none for environment default" in log
