#!/usr/bin/env bash
# Fails when a source file outside tests and benches passes 500 lines.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while read -r file; do
  lines=$(wc -l < "$file")
  if [ "$lines" -gt 500 ]; then
    echo "$file has $lines lines (limit 500): split it by concern"
    status=1
  fi
done < <(git ls-files '*.rs' | grep -v -E '(^|/)(tests|benches)/|/tests\.rs$')
exit $status
