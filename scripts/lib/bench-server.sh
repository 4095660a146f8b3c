# Sourced by the bench scripts: starts a fresh release `combray serve` on loopback ports with
# its data in "$DATA" (emptied first), stops it when the script exits, and waits until it is
# ready. Sets BIN (unless given), API and server (its pid). EXTRA_SERVE_ARGS adds flags to
# `serve` (e.g. "--wal-fsync never"); word-split on purpose.
BIN="${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}/release/combray}"
API=127.0.0.1:14320
rm -rf "$DATA"
# shellcheck disable=SC2086
"$BIN" serve --data-dir "$DATA" --api-addr "$API" --otlp-http-addr 127.0.0.1:14318 \
  --otlp-grpc-addr 127.0.0.1:14317 --xray-addr 127.0.0.1:12000 ${EXTRA_SERVE_ARGS:-} \
  2>"$DATA.log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://$API/readyz" >/dev/null && break; sleep 0.05; done
