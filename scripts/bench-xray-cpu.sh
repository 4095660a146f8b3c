#!/usr/bin/env bash
# Server CPU per accepted X-Ray document: a fresh release server on loopback, then
# `combray loadgen xray` for SECONDS at RATE documents/s; the server's user+system CPU time
# (from /proc) over the run, divided by the documents it accepted. Pick a RATE with no drops,
# so that two builds compared with it did the same work.
# usage: scripts/bench-xray-cpu.sh RATE [SECONDS] [DATA_DIR]
set -euo pipefail
RATE="$1"
SECONDS_TO_RUN="${2:-20}"
DATA="${3:-/tmp/combray-bench-xray-cpu}"
# shellcheck source=lib/bench-server.sh
source "$(dirname "$0")/lib/bench-server.sh"
# Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks; the command name before
# them may contain spaces, so count from the closing parenthesis.
cpu_ticks() { cut -d')' -f2 "/proc/$server/stat" | awk '{print $12 + $13}'; }
before=$(cpu_ticks)
report=$("$BIN" loadgen xray --address 127.0.0.1:12000 --duration "$SECONDS_TO_RUN" \
  --rate "$RATE" --senders 1 --metrics-url "http://$API/metrics")
sleep 2 # the last batches and the cut they trigger
after=$(cpu_ticks)
accepted=$(echo "$report" | grep '"accepted"' | tail -1 | tr -dc 0-9)
ticks_per_second=$(getconf CLK_TCK)
echo "accepted=$accepted server_cpu_seconds=$(( (after - before) / ticks_per_second ))" \
  "cpu_ms_per_1000_documents=$(( (after - before) * 1000 * 1000 / ticks_per_second / accepted ))"
