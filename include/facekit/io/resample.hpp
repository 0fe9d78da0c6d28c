// facekit/io/resample.hpp: the two resamplers whose exact arithmetic the references depend on.
//
// area_resize: PyTorch's interpolate(mode="area") = adaptive average pooling, used inside MTCNN for the
//   pyramid and the 24×24 / 48×48 crops. Output i of n_out averages input [⌊i·n/n_out⌋, ⌈(i+1)·n/n_out⌉);
//   the value is (sum / kh) / kw in float32 — two divisions, in that order (NOTES §2).
// pil_bilinear_resize: Pillow's 8-bit BILINEAR resize, used by facenet-pytorch for face crops: separable
//   triangle filter with support max(1, scale), 22-bit fixed-point weights, horizontal pass first, each
//   pass rounded and clamped to uint8 (NOTES §10).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__SSE2__)
#include "../engine/intrinsics.hpp"  // immintrin.h
#endif

#include "../engine/tensor.hpp"
#include "../engine/workspace.hpp"
#include "image.hpp"

namespace facekit {

/// Region [x0, x1) × [y0, y1) of an image; must lie inside it.
struct PixelRect {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int width() const noexcept { return x1 - x0; }
    int height() const noexcept { return y1 - y0; }
};

namespace detail {
/// Output i of n_out averages input [first, last): PyTorch's adaptive-pooling window.
inline int area_first(int i, int n, int n_out) { return int(std::int64_t(i) * n / n_out); }
inline int area_last(int i, int n, int n_out) { return int((std::int64_t(i + 1) * n + n_out - 1) / n_out); }
/// The normalised float of a window's integer sum: (sum / kh) / kw, then (v − 127.5)/128.
inline float area_value(float sum, float kh, float kw) { return (sum / kh / kw - 127.5f) * 0.0078125f; }
inline void check_area_args(const Image& img, PixelRect rect, int out_h, int out_w, int row0, int row1) {
    if (rect.x0 < 0 || rect.y0 < 0 || rect.x1 > img.width || rect.y1 > img.height || rect.width() <= 0 ||
        rect.height() <= 0 || out_h <= 0 || out_w <= 0)
        FACEKIT_THROW(InvalidArgument("area_resize: region outside the image or empty"));
    if (row0 < 0 || row0 > row1 || row1 > out_h) FACEKIT_THROW(InvalidArgument("area_resize: row range outside the output"));
}
}  // namespace detail

/// Area-resamples `rect` of `img` to out_h × out_w and writes (v − 127.5)·0.0078125 as NHWC floats to
/// `out`: output rows [row0, row1) (all by default), row0 first, dense, (row1 − row0) × out_w × 3 floats.
/// Row ranges let one resize be split over threads, or a band of it be made where it is used.
inline void area_resize_normalized(const Image& img, PixelRect rect, int out_h, int out_w, float* out, int row0 = 0,
                                   int row1 = -1) {
    if (row1 < 0) row1 = out_h;
    detail::check_area_args(img, rect, out_h, out_w, row0, row1);
    const int in_h = rect.height(), in_w = rect.width();
    // Column windows, and a running integer sum over the rows of the current row window.
    std::vector<int> cx0(static_cast<std::size_t>(out_w)), cx1(static_cast<std::size_t>(out_w));
    for (int j = 0; j < out_w; ++j) cx0[j] = detail::area_first(j, in_w, out_w), cx1[j] = detail::area_last(j, in_w, out_w);
    std::vector<std::int64_t> colsum(std::size_t(in_w + 1) * 3);  // prefix sums over columns
    for (int i = row0; i < row1; ++i) {
        const int y0 = detail::area_first(i, in_h, out_h), y1 = detail::area_last(i, in_h, out_h);
        std::fill(colsum.begin(), colsum.end(), 0);
        for (int y = y0; y < y1; ++y) {
            const std::uint8_t* src = img.at(rect.x0, rect.y0 + y);
            for (int x = 0; x < in_w; ++x)
                for (int c = 0; c < 3; ++c) colsum[std::size_t(x + 1) * 3 + c] += src[x * 3 + c];
        }
        for (int x = 0; x < in_w; ++x)
            for (int c = 0; c < 3; ++c) colsum[std::size_t(x + 1) * 3 + c] += colsum[std::size_t(x) * 3 + c];
        for (int j = 0; j < out_w; ++j) {
            float* dst = out + (std::size_t(i - row0) * out_w + j) * 3;
            for (int c = 0; c < 3; ++c)
                dst[c] = detail::area_value(float(colsum[std::size_t(cx1[j]) * 3 + c] - colsum[std::size_t(cx0[j]) * 3 + c]),
                                            float(y1 - y0), float(cx1[j] - cx0[j]));
        }
    }
}

/// The same area resampling from a summed-area table of the whole image, built once: each output value
/// then costs four reads however large its window, where the direct form re-reads the image for every
/// pyramid level and every crop. The table is 32-bit and wraps; window sums are exact while the image has
/// at most 2³²/255 pixels (larger images take the direct form).
class AreaSampler {
public:
    static constexpr std::int64_t kMaxPixels = (std::int64_t(1) << 32) / 255;

    /// Builds the table for `img` (which must outlive the sampler); rows are split over `pool`.
    void build(const Image& img, ThreadPool* pool = nullptr) {
        img_ = &img;
        table_.clear();
        if (std::int64_t(img.width) * img.height > kMaxPixels) return;
        const std::size_t stride = (std::size_t(img.width) + 1) * 3;
        table_.resize(stride * (std::size_t(img.height) + 1));  // every element is written below
        std::fill(table_.begin(), table_.begin() + std::ptrdiff_t(stride), 0u);
        Context ctx{pool, nullptr};
        // One block of rows per thread, each summed as if it began the image (a row's prefix sums in
        // registers, plus the row above, in one pass); then every block but the first adds the true sums
        // of the row above it, known once the blocks before are. Rows of several threads never share a
        // cache line (rows split row by row over threads ran slower on two than on one). uint32 wraps,
        // so the sums stay exact however they are grouped.
        const int blocks = std::min(ctx.threads(), img.height);
        auto first_row = [&](int b) { return int(std::int64_t(img.height) * b / blocks); };
        ctx.parallel_for(blocks, [&](std::int64_t b) {
            for (int y = first_row(int(b)); y < first_row(int(b) + 1); ++y) {
                std::uint32_t* row = &table_[(std::size_t(y) + 1) * stride];
                const std::uint32_t* above = y == first_row(int(b)) ? &table_[0] : row - stride;  // row 0: zeros
                const std::uint8_t* src = img.at(0, int(y));
                std::uint32_t r = 0, g = 0, bl = 0;
                row[0] = row[1] = row[2] = 0;
                for (int x = 0; x < img.width; ++x) {
                    r += src[x * 3], g += src[x * 3 + 1], bl += src[x * 3 + 2];
                    const std::size_t i = std::size_t(x + 1) * 3;
                    row[i] = r + above[i], row[i + 1] = g + above[i + 1], row[i + 2] = bl + above[i + 2];
                }
            }
        });
        if (blocks < 2) return;
        // carry[b]: the true sums of the row above block b (block 0's rows are already true)
        carry_.assign(std::size_t(blocks) * stride, 0u);
        for (int b = 1; b < blocks; ++b) {
            const std::uint32_t* last = &table_[std::size_t(first_row(b)) * stride];  // block b−1's last row
            for (std::size_t i = 0; i < stride; ++i) carry_[std::size_t(b) * stride + i] = carry_[std::size_t(b - 1) * stride + i] + last[i];
        }
        const int first = first_row(1), chunk = 16;
        ctx.parallel_for((img.height - first + chunk - 1) / chunk, [&](std::int64_t k) {
            const int y0 = first + int(k) * chunk, y1 = std::min(img.height, y0 + chunk);
            for (int y = y0; y < y1; ++y) {
                int b = 1;
                while (b + 1 < blocks && first_row(b + 1) <= y) ++b;
                const std::uint32_t* add = &carry_[std::size_t(b) * stride];
                std::uint32_t* row = &table_[(std::size_t(y) + 1) * stride];
                for (std::size_t i = 0; i < stride; ++i) row[i] += add[i];
            }
        });
    }

    /// Drops the image (the table keeps its memory for the next build()).
    void forget() noexcept { img_ = nullptr; }

    /// As area_resize_normalized(img, rect, out_h, out_w, out, row0, row1), bit for bit.
    void resize_normalized(PixelRect rect, int out_h, int out_w, float* out, int row0 = 0, int row1 = -1) const {
        if (!img_) FACEKIT_THROW(InvalidArgument("AreaSampler: build() first"));
        if (table_.empty()) return area_resize_normalized(*img_, rect, out_h, out_w, out, row0, row1);
        if (row1 < 0) row1 = out_h;
        detail::check_area_args(*img_, rect, out_h, out_w, row0, row1);
        const std::size_t stride = (std::size_t(img_->width) + 1) * 3;
        const int in_h = rect.height(), in_w = rect.width(), n = out_w * 3;
        // Per output value of a row: its window's left and right columns and its width. Each row then
        // takes the column sums of its row window (bottom − top, in wrapping uint32 like the table), reads
        // every value's sum as right − left, and divides in one loop the compiler vectorises (IEEE
        // division is exact per lane: the scalar arithmetic, sixteen values at a time).
        const int span = (in_w + 1) * 3;
        thread_local std::vector<std::uint32_t> left, right, column;
        thread_local std::vector<float> width, sum;
        left.resize(std::size_t(n)), right.resize(std::size_t(n)), width.resize(std::size_t(n)), sum.resize(std::size_t(n) + 1);
        const bool small = std::int64_t(in_w) * in_h * 255 < (std::int64_t(1) << 31);  // every sum fits an int32
        column.resize(std::size_t(span) + 1);  // + 1: window_sums reads four lanes
        for (int j = 0; j < out_w; ++j) {
            const int x0 = detail::area_first(j, in_w, out_w), x1 = detail::area_last(j, in_w, out_w);
            for (int c = 0; c < 3; ++c) {
                left[std::size_t(j) * 3 + c] = std::uint32_t(x0 * 3 + c);
                right[std::size_t(j) * 3 + c] = std::uint32_t(x1 * 3 + c);
                width[std::size_t(j) * 3 + c] = float(x1 - x0);
            }
        }
        for (int i = row0; i < row1; ++i) {
            const int y0 = detail::area_first(i, in_h, out_h), y1 = detail::area_last(i, in_h, out_h);
            const std::uint32_t* top = &table_[std::size_t(rect.y0 + y0) * stride + std::size_t(rect.x0) * 3];
            const std::uint32_t* bottom = &table_[std::size_t(rect.y0 + y1) * stride + std::size_t(rect.x0) * 3];
            for (int x = 0; x < span; ++x) column[x] = bottom[x] - top[x];
            window_sums(column.data(), left.data(), right.data(), out_w, small, sum.data());
            const float height = float(y1 - y0);
            float* dst = out + std::size_t(i - row0) * n;
            for (int k = 0; k < n; ++k) dst[k] = detail::area_value(sum[k], height, width[k]);
        }
    }

private:
    /// sum[3j + c] = column[right[3j + c]] − column[left[3j + c]] as float, for j < out_w. A window's three
    /// channels are neighbours in both: with SSE2 one 4-lane subtraction and conversion per window (the
    /// fourth lane is overwritten by the next window; `sum` has one float to spare), where the compiler made
    /// twelve scalar loads and inserts of the same. `small`: every sum below 2³¹, so int32 conversion gives
    /// the float of the uint32.
    static void window_sums(const std::uint32_t* column, const std::uint32_t* left, const std::uint32_t* right,
                            int out_w, bool small, float* sum) {
#if defined(__SSE2__)
        if (small) {
            for (int j = 0; j < out_w; ++j) {
                const __m128i r = _mm_loadu_si128(reinterpret_cast<const __m128i*>(column + right[3 * j]));
                const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(column + left[3 * j]));
                _mm_storeu_ps(sum + 3 * j, _mm_cvtepi32_ps(_mm_sub_epi32(r, l)));
            }
            return;
        }
#endif
        (void)small;
        for (int k = 0; k < 3 * out_w; ++k) sum[k] = float(column[right[k]] - column[left[k]]);
    }

    const Image* img_ = nullptr;
    std::vector<std::uint32_t> table_;  // (height+1) × (width+1) × 3, row and column 0 zero
    std::vector<std::uint32_t> carry_;  // build()'s per-block corrections
};

namespace detail {
/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis: per output index, the first input
/// index, the tap count and 22-bit fixed-point weights.
struct PilAxis {
    std::vector<int> first, count;
    std::vector<std::int32_t> weights;  // count_max per output
    int taps = 0;

    PilAxis(int in_size, int out_size) {
        constexpr int kPrecisionBits = 32 - 8 - 2;
        const double scale = double(in_size) / out_size;
        const double filterscale = std::max(scale, 1.0);
        const double support = 1.0 * filterscale;  // bilinear support is 1
        taps = int(std::ceil(support)) * 2 + 1;
        first.resize(out_size), count.resize(out_size), weights.assign(std::size_t(out_size) * taps, 0);
        std::vector<double> k(static_cast<std::size_t>(taps));
        for (int xx = 0; xx < out_size; ++xx) {
            const double center = (xx + 0.5) * scale;
            const double ss = 1.0 / filterscale;
            int xmin = int(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = int(center + support + 0.5);
            if (xmax > in_size) xmax = in_size;
            xmax -= xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; ++x) {
                double t = std::abs((x + xmin - center + 0.5) * ss);
                double w = t < 1.0 ? 1.0 - t : 0.0;
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; ++x) {
                double v = ww != 0.0 ? k[x] / ww : k[x];
                weights[std::size_t(xx) * taps + x] =
                    std::int32_t(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
            }
            first[xx] = xmin, count[xx] = xmax;
        }
    }
};
inline std::uint8_t clip8(std::int64_t v) {
    v >>= 22;
    return std::uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}
}  // namespace detail

/// Pillow's Image.resize((out_w, out_h), BILINEAR) of `rect` of `img` (after Image.crop), bit-exact.
inline Image pil_bilinear_resize(const Image& img, PixelRect rect, int out_w, int out_h) {
    if (rect.x0 < 0 || rect.y0 < 0 || rect.x1 > img.width || rect.y1 > img.height || rect.width() <= 0 ||
        rect.height() <= 0)
        FACEKIT_THROW(InvalidArgument("pil_bilinear_resize: region outside the image or empty"));
    // The crop itself.
    Image src(rect.width(), rect.height());
    for (int y = 0; y < src.height; ++y)
        std::copy(img.at(rect.x0, rect.y0 + y), img.at(rect.x0, rect.y0 + y) + src.width * 3, src.row(y));
    // Horizontal pass (skipped when the width does not change, as Pillow does).
    Image tmp = src;
    if (out_w != src.width) {
        detail::PilAxis ax(src.width, out_w);
        tmp = Image(out_w, src.height);
        for (int y = 0; y < src.height; ++y)
            for (int xx = 0; xx < out_w; ++xx)
                for (int c = 0; c < 3; ++c) {
                    std::int64_t acc = 1 << 21;
                    for (int x = 0; x < ax.count[xx]; ++x)
                        acc += std::int64_t(src.at(ax.first[xx] + x, y)[c]) * ax.weights[std::size_t(xx) * ax.taps + x];
                    tmp.at(xx, y)[c] = detail::clip8(acc);
                }
    }
    if (out_h == tmp.height) return tmp;
    detail::PilAxis ay(tmp.height, out_h);
    Image out(tmp.width, out_h);
    for (int yy = 0; yy < out_h; ++yy)
        for (int x = 0; x < tmp.width; ++x)
            for (int c = 0; c < 3; ++c) {
                std::int64_t acc = 1 << 21;
                for (int y = 0; y < ay.count[yy]; ++y)
                    acc += std::int64_t(tmp.at(x, ay.first[yy] + y)[c]) * ay.weights[std::size_t(yy) * ay.taps + y];
                out.at(x, yy)[c] = detail::clip8(acc);
            }
    return out;
}

}  // namespace facekit
