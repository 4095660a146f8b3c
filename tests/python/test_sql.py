"""SQL for power users: POST /api/v1/sql and `combray sql`, over head and blocks, per environment."""
import os
import subprocess

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
    assert "1 rows" in printed.stderr


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
