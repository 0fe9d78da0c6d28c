#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on a copy of its seed corpus; prints the executions.
# Usage: run.sh FUZZ_BUILD_DIR [SECONDS]. Developers: run.sh build/fuzz 600 (the 10-minute runs).
set -euo pipefail
build=$1
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in safetensors gallery image pairs; do
  cp -r "$here/corpus/$t" "$work/$t"
  mkdir "$work/$t-artifacts"
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$t-artifacts/" "$work/$t" > "$work/$t.log" 2>&1 || {
    tail -40 "$work/$t.log"
    # the failing input, so that a CI log is enough to reproduce it: base64 -d > crash; fuzz_$t crash
    for a in "$work/$t-artifacts"/*; do [ -f "$a" ] && { echo "input $(basename "$a") as base64:"; base64 "$a"; }; done
    echo "fuzz_$t FAILED" >&2
    exit 1
  }
  echo "fuzz_$t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') executions in ${seconds} s, no crash"
done
