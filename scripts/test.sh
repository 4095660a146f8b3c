#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (idempotently), checks
# formatting and lints, runs the Rust tests, builds the binary and runs the real-client tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}"
VENV="${COMBRAY_VENV:-$HOME/.cache/combray-venv}"
REQUIREMENTS=tests/python/requirements.txt

step() { printf '\n==> %s\n' "$*"; }

step "python test dependencies ($VENV)"
stamp="$VENV/.requirements.sha256"
wanted="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$wanted" > "$stamp"
else
  echo "up to date"
fi

step "system tools the tests use (strace, pgrep, chromium for the UI tests)"
missing=()
command -v strace >/dev/null || missing+=(strace)
command -v pgrep >/dev/null || missing+=(procps)
command -v chromium >/dev/null || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "present"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "file size limit (500 lines, tests and benches excepted)"
scripts/check-file-sizes.sh

step "cargo test"
cargo test --workspace --locked

step "build the combray binary"
cargo build --locked --bin combray
export COMBRAY_BIN="$CARGO_TARGET_DIR/debug/combray"

step "end-to-end tests with real clients"
"$VENV/bin/python" -m pytest tests/python -q -p no:cacheprovider
