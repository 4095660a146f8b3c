"""The head is cut into Parquet blocks; traces stay readable by id, in search and after restarts."""
import time

import pytest
import requests

from conftest import Combray
from otlp_payloads import new_trace_id, one_span_request, request, span

PROTOBUF = {"content-type": "application/x-protobuf"}
QUICK_CUTS = ["--block-max-age-seconds", "1"]


def send(combray, message):
    response = requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert response.status_code == 200, response.text


def metric(combray, name):
    for line in combray.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def wait_for_cut(combray, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metric(combray, "combray_head_spans") == 0 and metric(combray, "combray_blocks") > 0:
            return
        time.sleep(0.2)
    raise AssertionError("the head was not cut into blocks")


@pytest.fixture(params=["local", "s3"])
def backend(request):
    """The same tests against the local directory backend and an S3 emulator."""
    if request.param == "local":
        return None
    return request.getfixturevalue("s3")


def storage_args(backend):
    return [] if backend is None else ["--storage-url", f"s3://{backend.bucket}/combray"]


def parquet_headers(combray, backend):
    if backend is None:
        return [p.read_bytes()[:4] for p in (combray.data_dir / "objects" / "blocks" / "default").glob("*/data.parquet")]
    client = backend.client()
    keys = [k for k in backend.keys("combray/blocks/default/") if k.endswith("data.parquet")]
    return [client.get_object(Bucket=backend.bucket, Key=k, Range="bytes=0-3")["Body"].read() for k in keys]


def test_traces_are_served_from_blocks_and_survive_restarts(make_combray, backend):
    env = backend.env if backend else None
    args = QUICK_CUTS + storage_args(backend)
    combray = make_combray(args, env=env).start()
    trace_id = new_trace_id()
    send(combray, request([span(trace_id, b"\x01" * 8, name="GET /home")], service="api"))
    wait_for_cut(combray)
    assert parquet_headers(combray, backend) == [b"PAR1"]
    assert not list((combray.data_dir / "wal").glob("wal-*.log"))[:-1], "covered WAL segments are deleted"

    # The rest of the trace arrives after the cut: one trace across a block and the head.
    send(combray, request([span(trace_id, b"\x02" * 8, name="SELECT", parent=b"\x01" * 8)], service="db"))
    trace = combray.wait_for_trace(trace_id.hex(), min_spans=2)
    assert [(s["name"], s["depth"]) for s in trace["spans"]] == [("GET /home", 0), ("SELECT", 1)]
    hits = combray.get("/api/v1/traces", service="api").json()["traces"]
    assert [(h["trace_id"], h["span_count"], h["root_name"]) for h in hits] == [(trace_id.hex(), 2, "GET /home")]
    assert combray.get("/api/v1/services").json()["services"] == ["api", "db"]

    combray.stop()
    restarted = Combray(combray.data_dir, args, env).start()
    try:
        trace = restarted.wait_for_trace(trace_id.hex(), min_spans=2)
        assert trace["span_count"] == 2
        assert restarted.get("/api/v1/traces", name="SELECT").json()["traces"][0]["trace_id"] == trace_id.hex()
    finally:
        restarted.stop()


def test_a_corrupt_block_is_left_out_and_the_rest_stays_queryable(make_combray):
    combray = make_combray(QUICK_CUTS).start()
    first_id, first = one_span_request()
    send(combray, first)
    wait_for_cut(combray)
    second_id, second = one_span_request()
    send(combray, second)
    deadline = time.time() + 15
    while metric(combray, "combray_blocks") < 2 and time.time() < deadline:
        time.sleep(0.2)
    combray.stop()
    # Start-up reads each block's meta (its trace index is read when a lookup needs it; the
    # storage tests cover a damaged index). Block ids sort by creation: the first is the first cut.
    metas = sorted((combray.data_dir / "objects" / "blocks" / "default").glob("*/meta.json"))
    assert len(metas) == 2
    metas[0].write_bytes(b"not a meta")
    # Without the local cache, start-up reads every block from the store.
    (combray.data_dir / "block-index.bin").unlink()
    restarted = Combray(combray.data_dir).start()
    try:
        assert "leaving out a block that cannot be read" in restarted.log()
        found = [restarted.get(f"/api/v1/traces/{i.hex()}").status_code for i in (first_id, second_id)]
        assert found == [404, 200]
    finally:
        restarted.stop()


def test_two_nodes_sharing_a_bucket_see_each_others_blocks(make_combray, s3):
    args = QUICK_CUTS + ["--block-poll-seconds", "1", "--storage-url", f"s3://{s3.bucket}/shared"]
    node_a = make_combray(args, name="node-a", env=s3.env).start()
    node_b = make_combray(args, name="node-b", env=s3.env).start()
    from_a, message_a = one_span_request(service="svc-a")
    from_b, message_b = one_span_request(service="svc-b")
    send(node_a, message_a)
    send(node_b, message_b)
    for node in (node_a, node_b):
        for trace_id in (from_a, from_b):
            node.wait_for_trace(trace_id.hex(), timeout=30)
        assert node.get("/api/v1/services").json()["services"] == ["svc-a", "svc-b"]
    # Each trace counts once on both nodes, even after the lease holder compacts the two nodes'
    # blocks into one (the inputs' objects linger until their grace period ends).
    for node in (node_a, node_b):
        hits = node.get("/api/v1/traces", limit="100").json()
        assert hits["matched"] == 2
        assert all(hit["span_count"] == 1 for hit in hits["traces"])


def test_operator_tools_list_inspect_and_dump(make_combray):
    import subprocess
    from conftest import BIN
    combray = make_combray(QUICK_CUTS).start()
    send(combray, one_span_request(service="api")[1])
    wait_for_cut(combray)
    send(combray, one_span_request(service="api")[1])
    run = lambda *args: subprocess.run([BIN, *args, "--data-dir", str(combray.data_dir)],
                                       check=True, capture_output=True, text=True).stdout
    listing = run("blocks", "list")
    assert "1 block, 1 span," in listing
    block_id = listing.splitlines()[1].split()[0]
    inspected = run("blocks", "inspect", block_id)
    assert '"span_count": 1' in inspected and "row group 0: 1 row," in inspected and "trace_id" in inspected
    dumped = run("wal", "dump")
    assert "env=default protocol=otlp_http_protobuf spans=1" in dumped
    assert dumped.strip().endswith("1 record, 1 span")
    # A reader that has gone (`| head`) ends the command quietly, not with a panic.
    for tool in (["blocks", "inspect", block_id], ["blocks", "list"], ["wal", "dump"]):
        reader = subprocess.Popen([BIN, *tool, "--data-dir", str(combray.data_dir)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader.stdout.close()
        error = reader.stderr.read().decode()
        assert reader.wait(timeout=30) == 0, (tool, error)
        assert "panicked" not in error and "Broken pipe" not in error, (tool, error)


def test_small_blocks_are_compacted_in_the_background_without_losing_spans(make_combray, backend):
    env = backend.env if backend else None
    combray = make_combray(QUICK_CUTS + ["--block-poll-seconds", "1"] + storage_args(backend), env=env).start()
    sent = []
    for _ in range(3):
        trace_id, message = one_span_request()
        send(combray, message)
        sent.append(trace_id.hex())
        wait_for_cut(combray)
        time.sleep(1.1)
    deadline = time.time() + 20
    while time.time() < deadline and not (metric(combray, "combray_blocks") == 1 and "compacted blocks" in combray.log()):
        time.sleep(0.2)
    assert metric(combray, "combray_blocks") == 1, combray.log()[-2000:]
    assert metric(combray, "combray_block_spans") == 3
    for trace_id in sent:
        assert combray.wait_for_trace(trace_id)["span_count"] == 1
    listed = {t["trace_id"] for t in combray.get("/api/v1/traces", limit="100").json()["traces"]}
    assert listed == set(sent)


def test_restart_reads_the_block_list_from_the_local_cache(make_combray):
    combray = make_combray(QUICK_CUTS).start()
    trace_id, message = one_span_request()
    send(combray, message)
    wait_for_cut(combray)
    deadline = time.time() + 10
    while not (combray.data_dir / "block-index.bin").exists() and time.time() < deadline:
        time.sleep(0.1)
    combray.stop()
    restarted = Combray(combray.data_dir, QUICK_CUTS).start()
    try:
        assert "block list read from the local cache" in restarted.log()
        assert restarted.wait_for_trace(trace_id.hex())["span_count"] == 1
    finally:
        restarted.stop()
    # A damaged cache is ignored: the store is listed instead and nothing is lost.
    (combray.data_dir / "block-index.bin").write_bytes(b"garbage")
    again = Combray(combray.data_dir).start()
    try:
        assert "ignoring the block index cache" in again.log()
        assert again.wait_for_trace(trace_id.hex())["span_count"] == 1
    finally:
        again.stop()


def test_a_compaction_that_outlives_its_lease_publishes_nothing_and_every_span_stays_once(make_combray, s3):
    """Two nodes on one bucket. Node A holds the lease and starts merging both nodes' blocks, but
    its upload is held past the end of its lease window; node B takes the next window and merges
    the same blocks. A must then publish nothing: every span is stored exactly once."""
    from conftest import free_port
    from s3_proxy import S3Proxy
    lease = 2
    args = QUICK_CUTS + ["--block-poll-seconds", "1", "--lease-seconds", str(lease),
                         "--storage-url", f"s3://{s3.bucket}/fenced"]
    with S3Proxy(s3.endpoint, free_port()) as proxy_a, S3Proxy(s3.endpoint, free_port()) as proxy_b:
        # B takes no lease until A's compaction is under way; A's first block upload (its cut)
        # passes, the next (the merge) is held for three lease windows.
        proxy_b.rules.refuse_puts = ["/leases/"]
        proxy_a.rules.slow_puts = ("data.parquet", 1, 3 * lease)
        node_a = make_combray(args, name="node-a", env={**s3.env, "AWS_ENDPOINT_URL": proxy_a.endpoint}).start()
        node_b = make_combray(args, name="node-b", env={**s3.env, "AWS_ENDPOINT_URL": proxy_b.endpoint}).start()
        from_a, message_a = one_span_request(service="svc-a")
        send(node_a, message_a)
        wait_for_cut(node_a)
        from_b, message_b = one_span_request(service="svc-b")
        send(node_b, message_b)
        wait_for_cut(node_b)

        assert proxy_a.rules.slowed.wait(timeout=30), node_a.log()[-2000:]
        proxy_b.rules.refuse_puts = []
        deadline = time.time() + 40
        while time.time() < deadline and "compacted blocks" not in node_b.log():
            time.sleep(0.2)
        assert "compacted blocks" in node_b.log(), node_b.log()[-2000:]
        # A's held upload lands after its window: it must give the merge up.
        deadline = time.time() + 30
        while time.time() < deadline and "abandoned it" not in node_a.log():
            time.sleep(0.2)
        assert "abandoned it" in node_a.log(), node_a.log()[-2000:]
        time.sleep(2)

        metas = [k for k in s3.keys("fenced/blocks/") if k.endswith("meta.json")]
        client = s3.client()
        import json
        live = [json.loads(client.get_object(Bucket=s3.bucket, Key=k)["Body"].read()) for k in metas]
        merged = [m for m in live if m.get("replaces")]
        assert len(merged) == 1, [(m["block_id"], m["node_id"], m.get("replaces")) for m in merged]
        for node in (node_a, node_b):
            answer = requests.post(f"{node.api}/api/v1/sql", timeout=30,
                                   json={"sql": "SELECT count(*), count(DISTINCT span_id) FROM spans"})
            assert answer.json()["rows"] == [[2, 2]], (node.data_dir, answer.text)
            for trace_id in (from_a, from_b):
                assert node.wait_for_trace(trace_id.hex(), timeout=30)["span_count"] == 1
