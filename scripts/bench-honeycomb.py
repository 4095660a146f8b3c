#!/usr/bin/env python3
"""Times Honeycomb's questions through the Query Data API and BubbleUp, and the same questions
asked of DuckDB and of ClickHouse (chdb) over the very Parquet files of Combray's blocks, in one
run so they compare as ratios.

usage: bench-honeycomb.py API_URL DATA_DIR [RUNS]
DuckDB and chdb are references, not dependencies: `pip install -r scripts/bench-requirements.txt`.
Each question runs once to warm up, then RUNS times (default 5); medians and bests are printed.
The store is the one `scripts/bench-blocks.sh` leaves (loadgen traffic, every sample rate 1, so
the weighted and unweighted answers agree and the engines answer the same question).
"""
import glob
import json
import statistics
import sys
import time

import requests


def timed(run, runs):
    result = run()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), min(timings), result


def live_blocks(data_dir):
    """The Parquet files of live blocks: a block another's meta replaces may linger a while."""
    metas = [json.load(open(p)) for p in glob.glob(f"{data_dir}/objects/blocks/default/*/meta.json")]
    replaced = {b for meta in metas for b in meta.get("replaces", [])}
    return sorted(f"{data_dir}/objects/blocks/default/{m['block_id']}/data.parquet"
                  for m in metas if m["block_id"] not in replaced)


def questions(start, end):
    """(label, QuerySpec, SQL for DuckDB, SQL for ClickHouse); the SQL reads the view `spans`."""
    ns = lambda s: s * 10**9  # noqa: E731
    window = f"start_time >= {ns(start)} AND start_time < {ns(end)}"
    ch_window = (f"toUnixTimestamp64Nano(start_time) >= {ns(start)} "
                 f"AND toUnixTimestamp64Nano(start_time) < {ns(end)}")
    hour_end = start + 3600
    hour = f"start_time >= {ns(start)} AND start_time < {ns(hour_end)}"
    ch_hour = (f"toUnixTimestamp64Nano(start_time) >= {ns(start)} "
               f"AND toUnixTimestamp64Nano(start_time) < {ns(hour_end)}")
    g = max((end - start) // 60, 1)
    duck_heat = (
        f"WITH e AS (SELECT duration_nano / 1e6 AS v, start_time // {ns(60)} AS b FROM spans WHERE {hour}), "
        "r AS (SELECT min(v) AS lo, (max(v) - min(v)) / 50 AS step FROM e) "
        "SELECT b, least(floor((v - lo) / step), 49) AS cell, count(*) FROM e, r GROUP BY 1, 2")
    ch_heat = (
        f"WITH e AS (SELECT duration_nano / 1e6 AS v, intDiv(toUnixTimestamp64Nano(start_time), {ns(60)}) AS b "
        f"FROM spans WHERE {ch_hour}), "
        "r AS (SELECT min(v) AS lo, (max(v) - min(v)) / 50 AS step FROM e) "
        "SELECT b, least(floor((v - lo) / step), 49) AS cell, count() FROM e, r GROUP BY b, cell")
    return [
        ("P99(duration_ms) by service and route",
         {"calculations": [{"op": "P99", "column": "duration_ms"}], "breakdowns": ["service.name", "http.route"],
          "start_time": start, "end_time": end},
         f'SELECT service, "attr.http.route", approx_quantile(duration_nano / 1e6, 0.99) FROM spans '
         f"WHERE {window} GROUP BY 1, 2",
         f"SELECT service, `attr.http.route`, quantile(0.99)(duration_nano / 1e6) FROM spans "
         f"WHERE {ch_window} GROUP BY 1, 2"),
        ("HEATMAP(duration_ms), one hour, 60 s buckets",
         {"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "start_time": start,
          "end_time": hour_end, "granularity": 60},
         duck_heat, ch_heat),
        ("COUNT where user.id = one value",
         {"calculations": [{"op": "COUNT"}], "filters": [{"column": "user.id", "op": "=", "value": "user-4242"}],
          "start_time": start, "end_time": end},
         f"""SELECT count(*) FROM spans WHERE "attr.user.id" = 'user-4242' AND {window}""",
         f"SELECT count() FROM spans WHERE `attr.user.id` = 'user-4242' AND {ch_window}"),
        ("P95(duration_ms) by service, 60 buckets",
         {"calculations": [{"op": "P95", "column": "duration_ms"}], "breakdowns": ["service.name"],
          "start_time": start, "end_time": end, "granularity": g},
         f"SELECT start_time // {ns(g)} AS b, service, approx_quantile(duration_nano / 1e6, 0.95) FROM spans "
         f"WHERE {window} GROUP BY 1, 2",
         f"SELECT intDiv(toUnixTimestamp64Nano(start_time), {ns(g)}) AS b, service, "
         f"quantile(0.95)(duration_nano / 1e6) FROM spans WHERE {ch_window} GROUP BY b, service"),
    ]


def combray_runner(session, api, spec, series):
    def run():
        saved = session.post(f"{api}/1/queries/__all__", json=spec, timeout=600)
        saved.raise_for_status()
        made = session.post(f"{api}/1/query_results/__all__", timeout=600,
                            json={"query_id": saved.json()["id"], "disable_series": not series})
        made.raise_for_status()
        return session.get(f"{api}{made.headers['Location']}", timeout=60).json()["data"]
    return run


def main():
    api, data_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    session = requests.Session()
    files = live_blocks(data_dir)
    bounds = session.post(f"{api}/api/v1/sql", timeout=600, json={
        "sql": "SELECT count(*), CAST(min(start_time) AS BIGINT), CAST(max(start_time) AS BIGINT) FROM spans"}).json()
    spans, first, last = bounds["rows"][0]
    # Whole minutes around the data, so the API's rounding moves nothing.
    start, end = (int(first) // 10**9 // 60) * 60, (int(last) // 10**9 // 60 + 2) * 60
    print(f"spans={spans} parquet_files={len(files)} window={end - start}s runs={runs}")
    engines = {}
    try:
        import duckdb
        duck = duckdb.connect()
        duck.execute("CREATE VIEW spans AS SELECT * EXCLUDE (start_time), epoch_ns(start_time) AS start_time "
                     f"FROM read_parquet({files!r}, union_by_name = true)")
        engines["duckdb"] = lambda sql: duck.execute(sql).fetchall()
    except ImportError:
        print("duckdb is not installed")
    try:
        from chdb import session as chs
        ch = chs.Session()
        ch.query("SET schema_inference_mode = 'union'")
        ids = ",".join(f.split("/")[-2] for f in files)
        source = f"file('{data_dir}/objects/blocks/default/{{{ids}}}/data.parquet', Parquet)"
        engines["clickhouse"] = lambda sql: ch.query(sql.replace(" spans", f" {source}"), "JSONCompact")
    except ImportError:
        print("chdb is not installed")
    header = f"{'question':48} {'combray ms':>16}" + "".join(f" {name + ' ms':>16} {'ratio':>6}" for name in engines)
    print(header)
    for label, spec, duck_sql, ch_sql in questions(start, end):
        series = "granularity" in spec
        median, best, _ = timed(combray_runner(session, api, spec, series), runs)
        line = f"{label:48} {median:>7.1f} / {best:<7.1f}"
        for name, engine in engines.items():
            sql = duck_sql if name == "duckdb" else ch_sql
            e_median, e_best, _ = timed(lambda: engine(sql), runs)
            line += f" {e_median:>7.1f} / {e_best:<7.1f} {median / e_median:>6.2f}"
        print(line, flush=True)
    # BubbleUp: the slowest 5% of the window (a box on its HEATMAP) against the rest.
    p95 = combray_runner(session, api, {"calculations": [{"op": "P95", "column": "duration_ms"}],
                                        "start_time": start, "end_time": end}, False)()["results"][0]["data"]
    threshold = p95["P95(duration_ms)"]
    body = {"dataset": "__all__",
            "query": {"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "start_time": start, "end_time": end},
            "selection": {"heatmap": {"column": "duration_ms", "start_time": start, "end_time": end,
                                      "min": threshold, "max": 1e12}}}

    def bubbleup():
        answer = session.post(f"{api}/api/v1/bubbleup", json=body, timeout=600)
        if answer.status_code != 200:
            raise SystemExit(f"BubbleUp answered {answer.status_code}: {answer.text} to {json.dumps(body)}")
        return answer.json()
    median, best, answer = timed(bubbleup, runs)
    share = answer["selection_count"] / (answer["selection_count"] + answer["baseline_count"])
    print(f"{'BubbleUp, slowest ' + format(share, '.1%') + ' selected':48} {median:>7.1f} / {best:<7.1f}"
          f"  first column: {answer['columns'][0]['column']}")


if __name__ == "__main__":
    main()
