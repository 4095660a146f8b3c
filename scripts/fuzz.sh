#!/usr/bin/env bash
# Long fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer): each target until it has run
# FUZZ_RUNS inputs (default 10,000,000) or FUZZ_SECONDS (default 900), whichever comes first.
# Usage: scripts/fuzz.sh [target ...]            (default: every target in fuzz/Cargo.toml)
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address); on the pinned stable toolchain
# RUSTC_BOOTSTRAP=1 lets rustc accept them. New interesting inputs go to a scratch corpus, not
# to fuzz/corpus; a crash is written to fuzz/artifacts/<target>/: fix it, then copy the input
# into fuzz/corpus/<target>/ so `cargo test -p combray-fuzz` keeps replaying it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${COMBRAY_FUZZ_TARGET_DIR:-$HOME/.cache/combray-fuzz-target}"
runs="${FUZZ_RUNS:-10000000}"
seconds="${FUZZ_SECONDS:-900}"
scratch="${FUZZ_SCRATCH:-$HOME/.cache/combray-fuzz-corpus}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(otlp_decode decompress xray_datagram wal_replay block_meta xray_filter sql_plan)
fi
for target in "${targets[@]}"; do
  features=libfuzzer
  case "$target" in xray_filter | sql_plan) features=libfuzzer,query ;; esac
  mkdir -p "$scratch/$target"
  echo "==> $target"
  cargo fuzz run -O --no-default-features --features "$features" "$target" \
    "$scratch/$target" "fuzz/corpus/$target" -- \
    -runs="$runs" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    2>&1 | grep -E "^(stat::|Done|==|SUMMARY|INFO: -max_total_time)" || true
done
