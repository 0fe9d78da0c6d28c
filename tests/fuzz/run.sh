#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on a copy of its seed corpus; prints the executions.
# Usage: run.sh FUZZ_BUILD_DIR [SECONDS]. Developers: run.sh build/fuzz 600 (the 10-minute runs).
# fuzz_weights reads the converted models in $FACEKIT_MODELS (default: FUZZ_BUILD_DIR/../models) and starts
# from their real headers; fuzz_gallery_body starts from the gallery corpus.
set -euo pipefail
build=$1
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
export FACEKIT_MODELS=${FACEKIT_MODELS:-$build/../models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# seeds of fuzz_weights: one byte naming the model, then its safetensors header
mkdir "$work/weights"
python3 - "$FACEKIT_MODELS" "$work/weights" <<'PY'
import os, struct, sys
for i, m in enumerate(['pnet', 'rnet', 'onet', 'mobilefacenet', 'facenet-synthetic']):
    with open(os.path.join(sys.argv[1], m + '.safetensors'), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = f.read(n)
    with open(os.path.join(sys.argv[2], m), 'wb') as out:
        out.write(bytes([i]) + header)
PY
# and of the packed weights files, which only the fuzzer can make (it packs the models at start)
FACEKIT_FUZZ_WRITE_SEEDS="$work/weights" "$build/tests/fuzz/fuzz_weights" -runs=0 > /dev/null 2>&1
for t in safetensors gallery gallery_body image pairs json weights cli_args; do
  case $t in
    gallery_body) cp -r "$here/corpus/gallery" "$work/$t" ;;
    weights) ;;
    *) cp -r "$here/corpus/$t" "$work/$t" ;;
  esac
  mkdir "$work/$t-artifacts"
  # headers of real models are ~0.1–1 MB: let fuzz_weights' inputs be that large
  extra=(); [ "$t" = weights ] && extra=(-max_len=2000000)
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 "${extra[@]}" \
    -artifact_prefix="$work/$t-artifacts/" "$work/$t" > "$work/$t.log" 2>&1 || {
    tail -40 "$work/$t.log"
    # the failing input, so that a CI log is enough to reproduce it: base64 -d > crash; fuzz_$t crash
    for a in "$work/$t-artifacts"/*; do [ -f "$a" ] && { echo "input $(basename "$a") as base64:"; base64 "$a"; }; done
    echo "fuzz_$t FAILED" >&2
    exit 1
  }
  echo "fuzz_$t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') executions in ${seconds} s, no crash"
done
