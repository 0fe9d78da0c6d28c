#!/bin/bash
# Installs facekit from the build tree into a temporary prefix, then builds a separate consumer project
# against it three ways: find_package(facekit CONFIG), pkg-config, and plain -I; runs the installed tool
# (which finds the installed models beside it) and converter. Usage: test_install.sh BUILD_DIR SHARED_DIR
set -euo pipefail
build=$1
shared=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/share/cmake/facekit/facekitConfig.cmake"
test -f "$tmp/prefix/share/pkgconfig/facekit.pc"
cmake -S "$here/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
# pkg-config: the .pc file finds its prefix from its own location.
flags=$(PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig" pkg-config --cflags --libs facekit)
c++ -std=c++17 -O1 "$here/consumer/main.cpp" $flags -o "$tmp/consumer_pc"
"$tmp/consumer_pc"
# plain -I, as a vendored copy would be used
c++ -std=c++17 -O1 -I"$here/../include" -I/usr/include/eigen3 -I/usr/include/stb "$here/consumer/main.cpp" -pthread -o "$tmp/consumer_plain"
"$tmp/consumer_plain"
# the tool and the converter, installed beside the headers, with the converted models
test -x "$tmp/prefix/bin/facekit" && test -x "$tmp/prefix/bin/facekit-convert"
test -f "$tmp/prefix/share/facekit/models/pnet.safetensors"
"$tmp/prefix/bin/facekit" --version | grep -q '^facekit [0-9]'
faces=$(env -u FACEKIT_MODELS "$tmp/prefix/bin/facekit" detect --threads 1 "$shared/data/images/facenet-pytorch/multiface.jpg" | grep -c '"box"')
test "$faces" = 6
"$tmp/prefix/bin/facekit-convert" "$shared/models/mtcnn/pnet.pt" -o "$tmp/pnet.safetensors" >/dev/null
test -s "$tmp/pnet.safetensors"
echo "install test: find_package, pkg-config and -I consumers built and ran; installed facekit found 6 faces; facekit-convert ran"
