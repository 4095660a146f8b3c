#!/usr/bin/env bash
# Read paths before and after a change, in one run: builds the release binary of BASE (a commit,
# default HEAD~1) in a temporary worktree and of the working tree, then runs
# scripts/bench-reads.py over the same data with both (trace by id, search, SQL, X-Ray
# summaries; medians and new/old ratios). Loopback only.
# usage: scripts/bench-reads.sh [BASE] [BLOCK_SPANS] [HEAD_SPANS] [ROUNDS]
# Needs: a Python with requests (scripts/bench-requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="${1:-HEAD~1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/combray-target}"
PY="${PYTHON:-$HOME/.cache/combray-venv/bin/python}"
OUT="$(mktemp -d /tmp/combray-bench-reads-bins.XXXXXX)"
TREE="$OUT/base"
trap 'git worktree remove --force "$TREE" >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

# Both builds share the target directory, so the base only rebuilds Combray's own crates; each
# binary is copied out before the other build replaces it.
git worktree add --detach "$TREE" "$BASE" >/dev/null
(cd "$TREE" && cargo build --release --locked --bin combray)
cp "$CARGO_TARGET_DIR/release/combray" "$OUT/combray-base"
# Cargo judges Combray's crates by file times, and the base's were just built: without this it
# would take the base's artifacts as up to date for the working tree too.
find crates src fuzz -name '*.rs' -exec touch {} +
cargo build --release --locked --bin combray
cp "$CARGO_TARGET_DIR/release/combray" "$OUT/combray-new"

"$PY" scripts/bench-reads.py "$OUT/combray-base" "$OUT/combray-new" "${2:-2000000}" "${3:-100000}" "${4:-5}"
