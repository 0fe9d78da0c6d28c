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

#include <xsimd/xsimd.hpp>

namespace facekit::detail {

enum class Overlap { IoU, Min };

/// a·b rounded to float before it is used: stops the compiler from contracting a·b + c into an FMA.
inline float mul(float a, float b) {
    volatile float p = a * b;
    return p;
}

/// The same for a vector: its value, rounded, opaque to the compiler.
template <class V>
inline V rounded(V v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    asm("" : "+v"(v.data));
#elif defined(__GNUC__) && defined(__aarch64__)
    asm("" : "+w"(v.data));
#else
    alignas(64) float lanes[V::size];
    v.store_aligned(lanes);
    for (std::size_t i = 0; i < V::size; ++i) lanes[i] = mul(lanes[i], 1.0f);
    v = V::load_aligned(lanes);
#endif
    return v;
}

/// std::min and std::max lane by lane, with their answers for equal and NaN operands.
template <class V>
inline V std_min(V a, V b) { return xsimd::select(b < a, b, a); }
template <class V>
inline V std_max(V a, V b) { return xsimd::select(a < b, b, a); }

/// Greedy NMS of boxes (any type with x1, y1, x2, y2 and score as float). Returns the kept indices in
/// descending score. `threshold` as the reference passes it: a Python float (double) for IoU, a float32
/// for Min.
template <class Box>
std::vector<int> greedy_nms(const std::vector<Box>& boxes, Overlap criterion, double threshold) {
    using F = xsimd::batch<float>;
    constexpr int W = int(F::size);
    const int n = int(boxes.size()), padded = (n + W - 1) / W * W;
    std::vector<int> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return boxes[a].score > boxes[b].score; });

    // In score order, padded with empty boxes at 0 (whose flags are never read).
    const float one = criterion == Overlap::Min ? 1.0f : 0.0f;  // the +1 of pixel-inclusive boxes
    std::vector<float> x1(padded), y1(padded), x2(padded), y2(padded), area(padded), removed(padded);
    for (int i = 0; i < n; ++i) {
        const Box& b = boxes[order[i]];
        x1[i] = b.x1, y1[i] = b.y1, x2[i] = b.x2, y2[i] = b.y2;
        area[i] = mul(b.x2 - b.x1 + one, b.y2 - b.y1 + one);
    }
    // IoU: double(iou) > threshold ⇔ iou > the largest float not above threshold.
    float limit = float(threshold);
    if (criterion == Overlap::IoU && double(limit) > threshold) limit = std::nextafter(limit, -INFINITY);

    std::vector<int> keep;
    for (int a = 0; a < n; ++a) {
        if (removed[a] != 0.0f) continue;
        keep.push_back(order[a]);
        const F ax1(x1[a]), ay1(y1[a]), ax2(x2[a]), ay2(y2[a]), a_area(area[a]);
        // From the vector holding a + 1: flags at or before a change, but are never read again.
        for (int b = (a + 1) / W * W; b < padded; b += W) {
            const F bx1 = F::load_unaligned(&x1[b]), by1 = F::load_unaligned(&y1[b]);
            const F bx2 = F::load_unaligned(&x2[b]), by2 = F::load_unaligned(&y2[b]);
            const F b_area = F::load_unaligned(&area[b]);
            const F iw = std_max(F(0.0f), std_min(ax2, bx2) - std_max(ax1, bx1) + F(one));
            const F ih = std_max(F(0.0f), std_min(ay2, by2) - std_max(ay1, by1) + F(one));
            const F inter = rounded(iw * ih);
            const auto goes = criterion == Overlap::IoU ? inter / (a_area + b_area - inter) > F(limit)
                                                        : !(inter / std_min(a_area, b_area) <= F(limit));
            xsimd::select(goes, F(1.0f), F::load_unaligned(&removed[b])).store_unaligned(&removed[b]);
        }
    }
    return keep;
}

}  // namespace facekit::detail
