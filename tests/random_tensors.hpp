// Random inputs for the engine's tests (test_layers, test_kernels) and the distance between two results.
#pragma once
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "facekit/engine/tensor.hpp"

namespace facekit::test {

/// n floats uniform in [lo, hi).
inline std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}
/// A tensor of shape s, uniform in [−1, 1).
inline Tensor random_tensor(Shape s, std::mt19937& rng) {
    Tensor t(s);
    const auto v = random_vector(std::size_t(s.numel()), rng);
    std::copy(v.begin(), v.end(), t.data());
    return t;
}
inline float max_abs_diff(const Tensor& a, const Tensor& b) {
    float m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

}  // namespace facekit::test
