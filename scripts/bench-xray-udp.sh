#!/usr/bin/env bash
# One X-Ray UDP throughput run on loopback: a fresh release server, then `combray loadgen xray`
# for SECONDS at RATE documents/s; prints what was sent and the server's counters.
# usage: scripts/bench-xray-udp.sh RATE [SECONDS] [DATA_DIR]
# EXTRA_SERVE_ARGS adds flags to `serve` (e.g. "--wal-fsync never"); word-split on purpose.
set -euo pipefail
RATE="$1"
SECONDS_TO_RUN="${2:-10}"
DATA="${3:-/tmp/combray-bench-xray}"
BIN="${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}/release/combray}"
API=127.0.0.1:14320
rm -rf "$DATA"
"$BIN" serve --data-dir "$DATA" --api-addr "$API" --otlp-http-addr 127.0.0.1:14318 \
  --otlp-grpc-addr 127.0.0.1:14317 --xray-addr 127.0.0.1:12000 ${EXTRA_SERVE_ARGS:-} 2>"$DATA.log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://$API/readyz" >/dev/null && break; sleep 0.05; done
"$BIN" loadgen xray --address 127.0.0.1:12000 --duration "$SECONDS_TO_RUN" --rate "$RATE" \
  --senders 1 --metrics-url "http://$API/metrics"
