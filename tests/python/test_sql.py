"""SQL for power users: POST /api/v1/sql and `combray sql`, over head and blocks, per environment."""
import os
import subprocess
import time

import requests

from conftest import BIN
from otlp_payloads import new_trace_id, request, span
from test_blocks import QUICK_CUTS, metric, wait_for_cut

PROTOBUF = {"content-type": "application/x-protobuf"}


def send(combray, message, key):
    headers = dict(PROTOBUF, **{"x-honeycomb-team": key})
    response = requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(), headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def sql(combray, query, key=None, **extra):
    headers = {"x-honeycomb-team": key} if key else {}
    return requests.post(f"{combray.api}/api/v1/sql", json={"sql": query, **extra}, headers=headers, timeout=30)


def spans_for(service, route, count, user):
    trace_id = new_trace_id()
    spans = [span(trace_id, os.urandom(8), name=f"GET {route}", attributes={"http.route": route, "app.user": user})
             for _ in range(count)]
    return request(spans, service=service)


def test_sql_sees_the_callers_environment_across_blocks_and_head(make_combray):
    combray = make_combray(QUICK_CUTS)
    ingest_a, read_a = combray.keys_create("env-a", "ingest"), combray.keys_create("env-a", "configuration")
    ingest_b, read_b = combray.keys_create("env-b", "ingest"), combray.keys_create("env-b", "configuration")
    combray.start()
    send(combray, spans_for("backend-flask", "/api/messages", 3, "ann"), ingest_a)
    send(combray, spans_for("secret-service", "/api/secret", 5, "bob"), ingest_b)
    wait_for_cut(combray)
    # After the cut: these stay in the head while the first ones are in a block.
    send(combray, spans_for("backend-flask", "/api/users/<id>", 2, "cat"), ingest_a)

    answer = sql(combray, 'SELECT "attr.http.route" AS route, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1', read_a)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows"] == [["/api/messages", 3], ["/api/users/<id>", 2]]
    assert [c["name"] for c in body["columns"]] == ["route", "n"]
    assert body["truncated"] is False

    # The other environment's spans, columns and services are invisible, whatever the query.
    assert sql(combray, "SELECT DISTINCT service FROM spans", read_a).json()["rows"] == [["backend-flask"]]
    assert sql(combray, "SELECT count(*) FROM spans", read_b).json()["rows"] == [[5]]
    hidden = sql(combray, "SELECT \"attr.app.user\" FROM spans WHERE \"attr.app.user\" = 'bob'", read_a)
    assert hidden.status_code == 200 and hidden.json()["rows"] == []
    tables = sql(combray, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", read_a)
    assert tables.json()["rows"] == [["spans"]]

    # Reading takes a configuration key of the environment.
    assert sql(combray, "SELECT 1").status_code == 401
    assert sql(combray, "SELECT 1", ingest_a).status_code == 403

    # The CLI prints the same answer as a table.
    printed = subprocess.run(
        [BIN, "sql", "--api-url", combray.api, "--key", read_a,
         "SELECT service, count(*) AS n FROM spans GROUP BY service"],
        check=True, capture_output=True, text=True)
    assert printed.stdout.splitlines() == ["| service       | n |", "|---------------|---|", "| backend-flask | 5 |"]
    assert "1 row in" in printed.stderr


def test_bad_sql_and_writes_are_precise_400s(combray):
    for query, fragment in [
        ("SELEC 1", "SELEC"),
        ("SELECT nope FROM spans", "nope"),
        ("DROP TABLE spans", "DDL"),
        ("INSERT INTO spans (name) VALUES ('x')", "DML"),
        ("COPY (SELECT 1) TO '/tmp/combray-e2e.csv'", ""),
        ("SELECT * FROM '/etc/passwd'", "passwd"),
    ]:
        answer = sql(combray, query)
        assert answer.status_code == 400, (query, answer.text)
        assert fragment in answer.json()["error"], (query, answer.json())
    assert not os.path.exists("/tmp/combray-e2e.csv")
    bad_body = requests.post(f"{combray.api}/api/v1/sql", json={"query": "SELECT 1"}, timeout=10)
    assert bad_body.status_code == 400 and "sql" in bad_body.json()["error"]
    failed = subprocess.run([BIN, "sql", "--api-url", combray.api, "SELEC 1"], capture_output=True, text=True)
    assert failed.returncode != 0 and "400" in failed.stderr


def test_row_limit_and_time_limit(make_combray):
    combray = make_combray(["--sql-max-rows", "3", "--sql-timeout-seconds", "1"]).start()
    send_default = lambda message: requests.post(f"{combray.otlp_http}/v1/traces", data=message.SerializeToString(),
                                                 headers=PROTOBUF, timeout=10)
    assert send_default(spans_for("api", "/r", 10, "u")).status_code == 200
    cut = sql(combray, "SELECT name FROM spans")
    assert (len(cut.json()["rows"]), cut.json()["truncated"]) == (3, True)
    fewer = sql(combray, "SELECT name FROM spans", max_rows=2)
    assert (len(fewer.json()["rows"]), fewer.json()["truncated"]) == (2, True)
    # Counting a hundred billion generated rows is far more work than one second.
    slow = sql(combray, "SELECT count(*) FROM generate_series(1, 100000000000)")
    assert slow.status_code == 422, slow.text
    assert "limit of 1 s" in slow.json()["error"]
    # The query was cancelled: the next one answers at once, and ingest still works.
    assert sql(combray, "SELECT count(*) FROM spans").json()["rows"] == [[10]]
    assert send_default(spans_for("api", "/r", 1, "u")).status_code == 200


def process_sample(pid):
    """(RSS in MiB, CPU seconds used so far) of a process, from /proc."""
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss / 1024, (int(fields[11]) + int(fields[12])) / ticks


def cpu_seconds_over(pid, seconds):
    _, before = process_sample(pid)
    time.sleep(seconds)
    return process_sample(pid)[1] - before


def test_runaway_queries_stop_at_their_limits_and_stop_working(make_combray):
    import threading
    limit_mib = 256
    combray = make_combray(["--sql-memory-bytes", str(limit_mib << 20), "--sql-timeout-seconds", "3"]).start()
    response = requests.post(f"{combray.otlp_http}/v1/traces", data=spans_for("api", "/r", 7, "u").SerializeToString(),
                             headers=PROTOBUF, timeout=10)
    assert response.status_code == 200
    pid = combray.process.pid

    # Hours of work: a cross join of fourteen copies of a seven-row table (7^14 rows).
    tables = ", ".join(f"spans t{i}" for i in range(14))
    sums = " + ".join(f"t{i}.duration_nano" for i in range(14))
    started = time.time()
    slow = sql(combray, f"SELECT max({sums}) FROM {tables}")
    assert slow.status_code == 422, slow.text
    assert "limit of 3 s" in slow.json()["error"]
    assert time.time() - started < 10
    # Answered means stopped: the server goes idle at once instead of joining on.
    time.sleep(0.3)
    busy = cpu_seconds_over(pid, 2)
    assert busy < 0.5, f"{busy:.2f} CPU seconds in the 2 s after the answer"

    # Memory: every combination of eight copies' names gathered into one list (5.7 M strings).
    baseline, _ = process_sample(pid)
    peak, sampling = [baseline], threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], process_sample(pid)[0])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    names = " || ".join(f"t{i}.name" for i in range(8))
    tables = ", ".join(f"spans t{i}" for i in range(8))
    hungry = sql(combray, f"SELECT array_agg({names}) FROM {tables}")
    sampling.set()
    sampler.join()
    assert hungry.status_code == 422, hungry.text[:300]
    assert "may use" in hungry.json()["error"], hungry.json()
    # Memory stayed near the limit: the server's own, the limit, and slack for the allocator.
    assert peak[0] < baseline + limit_mib * 1.5 + 64, (baseline, peak[0])
    time.sleep(0.3)
    assert cpu_seconds_over(pid, 1) < 0.3
    # The next query runs, within the same limits.
    assert sql(combray, "SELECT count(*) FROM spans").json()["rows"] == [[7]]


def test_a_corrupt_block_fails_only_queries_that_read_it(make_combray):
    combray = make_combray(QUICK_CUTS).start()
    requests.post(f"{combray.otlp_http}/v1/traces", data=spans_for("old", "/a", 2, "u").SerializeToString(),
                  headers=PROTOBUF, timeout=10)
    wait_for_cut(combray)
    requests.post(f"{combray.otlp_http}/v1/traces", data=spans_for("new", "/b", 3, "u").SerializeToString(),
                  headers=PROTOBUF, timeout=10)
    [data] = (combray.data_dir / "objects" / "blocks" / "default").glob("*/data.parquet")
    data.write_bytes(b"PAR1 this is not parquet PAR1")
    broken = sql(combray, "SELECT count(*) FROM spans")
    assert broken.status_code == 500
    assert data.parent.name in broken.json()["error"], broken.json()
    # A query whose conditions rule the block out by its meta never reads it.
    fine = sql(combray, "SELECT count(*) FROM spans WHERE service = 'new'")
    assert fine.status_code == 200 and fine.json()["rows"] == [[3]]
    assert metric(combray, "combray_head_spans") == 3
