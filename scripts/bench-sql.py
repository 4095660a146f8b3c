#!/usr/bin/env python3
"""Times the issue-3 analysis queries through POST /api/v1/sql, and the same queries run by DuckDB
over the very Parquet files of Combray's blocks, in one run so the two can be compared as ratios.

usage: bench-sql.py API_URL DATA_DIR [RUNS]
DuckDB is a reference, not a dependency: `pip install -r scripts/bench-requirements.txt`.
Each query runs once to warm up, then RUNS times (default 5); the median and the best are printed.
"""
import glob
import json
import statistics
import sys
import time

import requests

# (label, Combray SQL, DuckDB SQL over the view `spans`). The view has the same columns as
# Combray's table; start_time is nanoseconds in both.
QUERIES = [
    ("count(*)",
     "SELECT count(*) FROM spans",
     "SELECT count(*) FROM spans"),
    ("P99 by service, route: approx_percentile_cont",
     'SELECT service, "attr.http.route" AS route, '
     "approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_nano) AS p99 "
     "FROM spans GROUP BY 1, 2 ORDER BY 1, 2",
     'SELECT service, "attr.http.route" AS route, approx_quantile(duration_nano, 0.99) AS p99 '
     "FROM spans GROUP BY 1, 2 ORDER BY 1, 2"),
    ("P99 by service, route: p99(), log histogram",
     'SELECT service, "attr.http.route" AS route, p99(duration_nano) AS p99 '
     "FROM spans GROUP BY 1, 2 ORDER BY 1, 2",
     'SELECT service, "attr.http.route" AS route, approx_quantile(duration_nano, 0.99) AS p99 '
     "FROM spans GROUP BY 1, 2 ORDER BY 1, 2"),
    ("equality filter on attr.user.id",
     """SELECT count(*) FROM spans WHERE "attr.user.id" = 'user-4242'""",
     """SELECT count(*) FROM spans WHERE "attr.user.id" = 'user-4242'"""),
    ("equality filter on attr.http.target, 5 columns out",
     """SELECT trace_id, span_id, service, name, duration_nano FROM spans """
     """WHERE "attr.http.target" = '/api/users/4242'""",
     """SELECT trace_id, span_id, service, name, duration_nano FROM spans """
     """WHERE "attr.http.target" = '/api/users/4242'"""),
]


def timed(run, runs):
    run()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), min(timings), result


def main():
    api, data_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    session = requests.Session()

    def combray(sql):
        def run():
            response = session.post(f"{api}/api/v1/sql", json={"sql": sql}, timeout=600)
            response.raise_for_status()
            return response.json()["rows"]
        return run

    # Only live blocks: a block another block's meta replaces may linger for its grace period.
    metas = [json.load(open(path)) for path in glob.glob(f"{data_dir}/objects/blocks/default/*/meta.json")]
    replaced = {block for meta in metas for block in meta.get("replaces", [])}
    files = sorted(f"{data_dir}/objects/blocks/default/{meta['block_id']}/data.parquet"
                   for meta in metas if meta["block_id"] not in replaced)
    duck = None
    try:
        import duckdb
        duck = duckdb.connect()
        duck.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
    except ImportError:
        print("duckdb is not installed: Combray figures only")
    spans = combray("SELECT count(*) FROM spans")()[0][0]
    print(f"spans={spans} parquet_files={len(files)} runs={runs}")
    print(f"{'query':52} {'combray median/best ms':>24} {'duckdb median/best ms':>24} {'ratio':>6}")
    for label, ours, theirs in QUERIES:
        median, best, rows = timed(combray(ours), runs)
        line = f"{label:52} {median:>13.1f} / {best:<8.1f}"
        if duck is not None:
            d_median, d_best, d_rows = timed(lambda: duck.execute(theirs).fetchall(), runs)
            line += f" {d_median:>13.1f} / {d_best:<8.1f} {median / d_median:>6.2f}"
            if len(d_rows) != len(rows):
                line += f"  (row counts differ: {len(rows)} vs {len(d_rows)})"
        print(line)


if __name__ == "__main__":
    main()
