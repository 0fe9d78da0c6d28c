// facekit/engine/backends.hpp: every backend built for this target, and the default one (the fastest).
// Without a vector instruction set xsimd knows (or with FACEKIT_NO_SIMD defined), the xsimd backend is
// left out and the reference backend is the default: the library then needs no SIMD at all.
#pragma once
#include "backend.hpp"
#include "backends/eigen.hpp"
#include "backends/reference.hpp"
#include "backends/xsimd/available.hpp"
#if FACEKIT_XSIMD
#include "backends/xsimd/backend.hpp"
#endif

namespace facekit::nn {
#if FACEKIT_XSIMD
using DefaultBackend = XsimdBackend<>;
#else
using DefaultBackend = ReferenceBackend;
#endif
static_assert(is_backend_v<ReferenceBackend> && is_backend_v<EigenBackend> && is_backend_v<DefaultBackend>,
              "every backend implements engine/backend.hpp");
}  // namespace facekit::nn
