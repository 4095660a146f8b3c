"""Helpers shared by the X-Ray end-to-end tests: the AWS CLI, boto3 and UDP segments."""
import json
import os
import socket
import subprocess
import sys
import time

import boto3
from botocore.config import Config

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def aws(combray, *args, check=True):
    """Runs the real AWS CLI (`python -m awscli`) against Combray's API port."""
    env = {**os.environ, **AWS_ENV, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    result = subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--endpoint-url", combray.api, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
    return result


def xray_client(endpoint, access_key=AWS_ENV["AWS_ACCESS_KEY_ID"], secret=AWS_ENV["AWS_SECRET_ACCESS_KEY"]):
    """boto3 with its client-side checks off, so that Combray's own validation is what answers."""
    return boto3.client(
        "xray", endpoint_url=endpoint, region_name="us-east-1", config=Config(parameter_validation=False),
        aws_access_key_id=access_key, aws_secret_access_key=secret,
    )


def send_segments(address, documents):
    """Sends documents to the daemon's UDP port, one datagram each, as the SDKs do."""
    host, port = address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for document in documents:
            sock.sendto(b'{"format":"json","version":1}\n' + json.dumps(document).encode(), (host, int(port)))


def new_trace_id():
    return "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())


def wait_for(predicate, timeout=20, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s; last value {last!r}")
