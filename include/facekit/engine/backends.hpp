// facekit/engine/backends.hpp: every backend, and the default one (the fastest built).
#pragma once
#include "backend.hpp"
#include "backends/xsimd/backend.hpp"
#include "backends/eigen.hpp"
#include "backends/reference.hpp"

namespace facekit::nn {
using DefaultBackend = XsimdBackend<>;
static_assert(is_backend_v<ReferenceBackend> && is_backend_v<EigenBackend> && is_backend_v<DefaultBackend>,
              "every backend implements engine/backend.hpp");
}  // namespace facekit::nn
