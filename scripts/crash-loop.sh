#!/usr/bin/env bash
# The long crash loop: kill -9 at random moments under OTLP and X-Ray load, 20 cycles by default,
# checking after each restart that every acknowledged span is back and none is stored twice.
# Usage: scripts/crash-loop.sh [--cycles N] [--seconds S] [--rate SPANS_PER_SECOND]
# Needs the test environment of scripts/test.sh (the venv and a built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}"
VENV="${COMBRAY_VENV:-$HOME/.cache/combray-venv}"
cargo build --locked --bin combray
export COMBRAY_BIN="$CARGO_TARGET_DIR/debug/combray"
cd tests/python
exec "$VENV/bin/python" crash_loop.py "$@"
