#!/usr/bin/env bash
# The issue-3 storage benchmarks in one run, on loopback only:
#   1. `combray loadgen otlp` sends SPANS spans (default 10 million) to a fresh release server;
#   2. a graceful stop cuts the rest of the head; bytes on disk per span are counted;
#   3. a restart is timed until /readyz answers;
#   4. trace-by-id lookups (no time range) and the SQL queries run, the latter also in DuckDB
#      over the same Parquet files (scripts/bench-sql.py).
# usage: scripts/bench-blocks.sh [SPANS] [DATA_DIR]
# Needs: cargo build --release; a Python with requests (and duckdb for the comparison).
set -euo pipefail
cd "$(dirname "$0")/.."

SPANS="${1:-10000000}"
DATA="${2:-/tmp/combray-bench-blocks}"
BIN="${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}/release/combray"
PY="${PYTHON:-$HOME/.cache/combray-venv/bin/python}"
API=127.0.0.1:14320
ARGS=(--data-dir "$DATA" --api-addr "$API" --otlp-http-addr 127.0.0.1:14318 --otlp-grpc-addr 127.0.0.1:14317)

wait_ready() {
  for _ in $(seq 1 600); do
    curl -sf "http://$API/readyz" >/dev/null && return 0
    sleep 0.01
  done
  echo "server not ready" >&2
  return 1
}

rm -rf "$DATA" /tmp/combray-bench-acks.log
"$BIN" serve "${ARGS[@]}" 2>"$DATA.log" &
server=$!
wait_ready
"$BIN" loadgen otlp --endpoint http://127.0.0.1:14318 --max-spans "$SPANS" --duration 600 \
  --connections 8 --ack-log /tmp/combray-bench-acks.log | tee "$DATA.loadgen.json"
# Per span means per span stored: batches refused with 503 (a full head) are not resent.
STORED=$(grep -o '"spans_acked": [0-9]*' "$DATA.loadgen.json" | grep -o '[0-9]*$')
kill -TERM "$server"
wait "$server" || true

blocks=$(find "$DATA/objects/blocks" -type f | wc -l)
bytes=$(du -sb "$DATA/objects/blocks" | cut -f1)
parquet=$(find "$DATA/objects/blocks" -name data.parquet -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "objects=$blocks block_bytes=$bytes parquet_bytes=$parquet spans=$STORED"
echo "bytes_per_span_all=$(echo "scale=1; $bytes / $STORED" | bc) bytes_per_span_parquet=$(echo "scale=1; $parquet / $STORED" | bc)"

for run in 1 2 3; do
  started=$(date +%s.%N)
  "$BIN" serve "${ARGS[@]}" 2>>"$DATA.log" &
  server=$!
  wait_ready
  echo "restart $run: ready in $(echo "$(date +%s.%N) - $started" | bc) s"
  [ "$run" = 3 ] || { kill -TERM "$server"; wait "$server" || true; }
done

"$PY" scripts/bench-trace-lookup.py "http://$API" /tmp/combray-bench-acks.log 500
"$PY" scripts/bench-sql.py "http://$API" "$DATA" 5
kill -TERM "$server"
wait "$server" || true
