// facekit/engine/backends.hpp: every backend, and the default one (the fastest built).
#pragma once
#include "backends/xsimd/backend.hpp"
#include "backends/eigen.hpp"
#include "backends/reference.hpp"

namespace facekit::nn {
using DefaultBackend = XsimdBackend<>;
}  // namespace facekit::nn
