#!/bin/bash
# Installs facekit from the build tree into a temporary prefix, then builds a separate consumer project
# against it three ways: find_package(facekit CONFIG), pkg-config, and plain -I. Usage: test_install.sh BUILD_DIR
set -euo pipefail
build=$1
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
echo "install test: find_package, pkg-config and -I consumers built and ran"
