// facekit/engine/intrinsics.hpp: the x86 intrinsics headers, included before xsimd and Eigen.
// GCC 12.2's avx512fintrin.h starts many intrinsics from _mm512_undefined_ps(), which it then reports as
// "may be used uninitialized" wherever they are inlined (GCC bug 105593, fixed in 12.3 and 13): hundreds
// of warnings through Eigen and xsimd in any -Wall build. GCC classifies a diagnostic by where its source
// lies, so including immintrin.h once with those two warnings off silences exactly these and nothing in
// facekit's or the user's code. A program that includes <immintrin.h> itself before facekit still sees
// them: include facekit first, or add -Wno-maybe-uninitialized (README, "Compiler warnings").
#pragma once
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
