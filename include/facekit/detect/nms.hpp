// facekit/detect/nms.hpp: greedy non-maximum suppression with the two overlap criteria MTCNN's
// reference uses, to the last float, a vector of candidates at a time.
//
//   IoU  (torchvision.ops.nms): areas (x2−x1)(y2−y1); a candidate goes when inter / union > threshold,
//        compared in double (NOTES §8).
//   Min  (facenet-pytorch's nms_numpy "Min"): areas and intersections with +1; a candidate goes unless
//        inter / min(areas) ≤ threshold, compared in float (NaN goes) (§7).
//
// Every product is rounded to float before it is added (no fused multiply-add), as the reference computes
// it. The boxes are sorted by descending score (ties: lower index first) and laid out as arrays, so that a
// kept box tests the next W candidates in one step: the cross-scale NMS of a 640×480 photo (≈400 boxes,
// 80 000 pairs) took a third of a millisecond pair by pair, serially, between the parallel stages.
#pragma once
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../engine/backends/xsimd/available.hpp"
#if FACEKIT_XSIMD
#include "../engine/intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>
#endif

namespace facekit::detail {

enum class Overlap { IoU, Min };

/// a·b rounded to float before it is used: stops the compiler from contracting a·b + c into an FMA.
inline float mul(float a, float b) {
    volatile float p = a * b;
    return p;
}

/// The operations NMS needs on W candidates at once, each with the scalar reference's answer:
/// Lanes<float> is one candidate (builds without SIMD), Lanes<xsimd::batch<float>> a vector.
template <class V>
struct Lanes;

template <>
struct Lanes<float> {
    static constexpr int W = 1;
    using Mask = bool;
    static float load(const float* p) { return *p; }
    static float rounded(float v) { return mul(v, 1.0f); }
    static float min(float a, float b) { return std::min(a, b); }
    static float max(float a, float b) { return std::max(a, b); }
    static float div(float a, float b) { return a / b; }
    static void mark(Mask goes, float* removed) {
        if (goes) *removed = 1.0f;
    }
};

#if FACEKIT_XSIMD
template <class A>
struct Lanes<xsimd::batch<float, A>> {
    using V = xsimd::batch<float, A>;
    static constexpr int W = int(V::size);
    using Mask = typename V::batch_bool_type;
    static V load(const float* p) { return V::load_unaligned(p); }
    /// The vector's value, rounded, opaque to the compiler (no contraction into an FMA).
    static V rounded(V v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        asm("" : "+v"(v.data));
#elif defined(__GNUC__) && defined(__aarch64__)
        asm("" : "+w"(v.data));
#else
        alignas(64) float lanes[W];
        v.store_aligned(lanes);
        for (int i = 0; i < W; ++i) lanes[i] = mul(lanes[i], 1.0f);
        v = V::load_aligned(lanes);
#endif
        return v;
    }
    /// std::min and std::max lane by lane, with their answers for equal and NaN operands.
    static V min(V a, V b) { return xsimd::select(b < a, b, a); }
    static V max(V a, V b) { return xsimd::select(a < b, b, a); }
    /// a / b correctly rounded, as the scalar division: x86's divps is; xsimd 8's NEON division is a
    /// reciprocal estimate and two Newton steps (4 quotients in 10 differ on aarch64), so Arm divides
    /// with vdivq_f32 where it has it (AArch64) and lane by lane otherwise.
    static V div(V a, V b) {
#if defined(__x86_64__) || defined(__i386__)
        return a / b;
#elif defined(__aarch64__)
        if constexpr (W == 4) return V(vdivq_f32(a, b));
#endif
        alignas(64) float x[W], y[W];
        a.store_aligned(x), b.store_aligned(y);
        for (int i = 0; i < W; ++i) x[i] /= y[i];
        return V::load_aligned(x);
    }
    static void mark(Mask goes, float* removed) {
        xsimd::select(goes, V(1.0f), V::load_unaligned(removed)).store_unaligned(removed);
    }
};
using NmsLanes = Lanes<xsimd::batch<float>>;
#else
using NmsLanes = Lanes<float>;
#endif

/// The memory of greedy_nms: reused from call to call, it allocates nothing once it has held the most
/// boxes it will see (reserve() that many up front).
struct NmsScratch {
    std::vector<int> order, keep;
    std::vector<float> x1, y1, x2, y2, area, removed;

    void reserve(std::size_t boxes) {
        const std::size_t padded = boxes + 64;  // a vector's width at most
        order.reserve(boxes), keep.reserve(boxes);
        for (auto* v : {&x1, &y1, &x2, &y2, &area, &removed}) v->reserve(padded);
    }
};

/// Greedy NMS of boxes (any type with x1, y1, x2, y2 and score as float). Returns the kept indices in
/// descending score (in s.keep). `threshold` as the reference passes it: a Python float (double) for IoU,
/// a float32 for Min. L chooses the lanes (tests run the one-lane form against the vector one).
template <class Box, class L = NmsLanes>
const std::vector<int>& greedy_nms(const std::vector<Box>& boxes, Overlap criterion, double threshold, NmsScratch& s) {
    constexpr int W = L::W;
    const int n = int(boxes.size()), padded = (n + W - 1) / W * W;
    std::vector<int>& order = s.order;
    order.resize(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    // Descending score, ties by lower index: what a stable sort on score gives, without its buffer. A NaN
    // score (never passed by the detector, whose thresholds drop NaN) goes last, so the order stays total.
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        const float sa = boxes[a].score, sb = boxes[b].score;
        if (std::isnan(sa) || std::isnan(sb)) return std::isnan(sa) == std::isnan(sb) ? a < b : std::isnan(sb);
        return sa != sb ? sa > sb : a < b;
    });

    // In score order, padded with empty boxes at 0 (whose flags are never read).
    const float one = criterion == Overlap::Min ? 1.0f : 0.0f;  // the +1 of pixel-inclusive boxes
    for (auto* v : {&s.x1, &s.y1, &s.x2, &s.y2, &s.area, &s.removed}) v->assign(std::size_t(padded), 0.0f);
    std::vector<float>&x1 = s.x1, &y1 = s.y1, &x2 = s.x2, &y2 = s.y2, &area = s.area, &removed = s.removed;
    for (int i = 0; i < n; ++i) {
        const Box& b = boxes[order[i]];
        x1[i] = b.x1, y1[i] = b.y1, x2[i] = b.x2, y2[i] = b.y2;
        area[i] = mul(b.x2 - b.x1 + one, b.y2 - b.y1 + one);
    }
    // IoU: double(iou) > threshold ⇔ iou > the largest float not above threshold.
    float limit = float(threshold);
    if (criterion == Overlap::IoU && double(limit) > threshold) limit = std::nextafter(limit, -INFINITY);

    using V = decltype(L::load(nullptr));
    std::vector<int>& keep = s.keep;
    keep.clear();
    for (int a = 0; a < n; ++a) {
        if (removed[a] != 0.0f) continue;
        keep.push_back(order[a]);
        const V ax1(x1[a]), ay1(y1[a]), ax2(x2[a]), ay2(y2[a]), a_area(area[a]), zero(0.0f), v_one(one), v_limit(limit);
        // From the vector holding a + 1: flags at or before a change, but are never read again.
        for (int b = (a + 1) / W * W; b < padded; b += W) {
            const V bx1 = L::load(&x1[b]), by1 = L::load(&y1[b]), bx2 = L::load(&x2[b]), by2 = L::load(&y2[b]);
            const V b_area = L::load(&area[b]);
            const V iw = L::max(zero, L::min(ax2, bx2) - L::max(ax1, bx1) + v_one);
            const V ih = L::max(zero, L::min(ay2, by2) - L::max(ay1, by1) + v_one);
            const V inter = L::rounded(iw * ih);
            const auto goes = criterion == Overlap::IoU ? L::div(inter, a_area + b_area - inter) > v_limit
                                                        : !(L::div(inter, L::min(a_area, b_area)) <= v_limit);
            L::mark(goes, &removed[b]);
        }
    }
    return keep;
}

/// The same with its own memory.
template <class Box, class L = NmsLanes>
std::vector<int> greedy_nms(const std::vector<Box>& boxes, Overlap criterion, double threshold) {
    NmsScratch s;
    return greedy_nms<Box, L>(boxes, criterion, threshold, s);
}

}  // namespace facekit::detail
