// facekit/nn/backends.hpp: every backend, and the default one (the fastest built).
#pragma once
#include "../simd/backend_xsimd.hpp"
#include "backend_eigen.hpp"
#include "backend_scalar.hpp"

namespace facekit::nn {
using DefaultBackend = XsimdBackend<>;
}  // namespace facekit::nn
