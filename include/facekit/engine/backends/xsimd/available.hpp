// facekit/engine/backends/xsimd/available.hpp: whether the compiler targets an instruction set xsimd
// vectorises for (SSE2 and up, NEON). FACEKIT_XSIMD is 1 then, else 0: a 32-bit Arm build without NEON
// (Debian's armhf default) has none, and facekit then builds with the reference backend alone.
#pragma once
#include <xsimd/config/xsimd_config.hpp>

#if defined(XSIMD_NO_SUPPORTED_ARCHITECTURE) || defined(FACEKIT_NO_SIMD)
#define FACEKIT_XSIMD 0
#else
#define FACEKIT_XSIMD 1
#endif
