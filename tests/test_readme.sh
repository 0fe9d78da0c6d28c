#!/bin/bash
# Compiles the README's "C++ API" snippet exactly as written and runs it where its paths exist: build/models
# (the converted weights), people.fkg (enrolled with the facekit tool) and photo.jpg.
# Usage: test_readme.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -euo pipefail
src=$1
build=$2
shared=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the first ```cpp block after the "## The C++ API" heading
python3 - "$src/README.md" "$tmp/snippet.cpp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index('## The C++ API'):]
block = re.search(r'```cpp\n(.*?)```', section, re.S).group(1)
open(sys.argv[2], 'w').write(block)
PY
c++ -std=c++17 -O1 -march=native -I"$src/include" -I/usr/include/eigen3 -I/usr/include/stb "$tmp/snippet.cpp" -pthread -o "$tmp/snippet"
mkdir -p "$tmp/run/build"
ln -s "$build/models" "$tmp/run/build/models"
lfw=$shared/data/lfw/images
"$build/tools/facekit/facekit" gallery enroll --gallery "$tmp/run/people.fkg" Tony_Blair "$lfw/Tony_Blair/Tony_Blair_0018.jpg" >/dev/null 2>&1
cp "$lfw/Tony_Blair/Tony_Blair_0032.jpg" "$tmp/run/photo.jpg"
out=$(cd "$tmp/run" && ./../snippet)
echo "$out"
grep -q '^Tony_Blair at distance 0\.' <<<"$out"
echo "README snippet compiled and identified Tony_Blair"
