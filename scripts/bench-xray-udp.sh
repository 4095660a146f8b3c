#!/usr/bin/env bash
# One X-Ray UDP throughput run on loopback: a fresh release server, then `combray loadgen xray`
# for SECONDS at RATE documents/s; prints what was sent and the server's counters.
# usage: scripts/bench-xray-udp.sh RATE [SECONDS] [DATA_DIR]
# EXTRA_SERVE_ARGS adds flags to `serve` (see lib/bench-server.sh).
set -euo pipefail
RATE="$1"
SECONDS_TO_RUN="${2:-10}"
DATA="${3:-/tmp/combray-bench-xray}"
# shellcheck source=lib/bench-server.sh
source "$(dirname "$0")/lib/bench-server.sh"
"$BIN" loadgen xray --address 127.0.0.1:12000 --duration "$SECONDS_TO_RUN" --rate "$RATE" \
  --senders 1 --metrics-url "http://$API/metrics"
