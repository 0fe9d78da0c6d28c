// facekit/io/jpeg.hpp: JPEG pixels exactly as PIL gets them from libjpeg-turbo.
// stb_image reads the entropy-coded data (Huffman, baseline and progressive); the three stages where
// decoders differ by design are done here as libjpeg-turbo does them with its default settings
// (JDCT_ISLOW, do_fancy_upsampling), which is what PIL's Image.open(...).convert('RGB') runs:
//   - the inverse DCT: jidctint.c's "islow" (13-bit constants, 2 extra bits after the first pass, the
//     10-bit wrap of its range-limit table); stb_image's has 12-bit constants;
//   - chroma upsampling: the triangle filter with libjpeg's alternating rounding (+1/+2, +8/+7), edges
//     replicated, box replication for other integral factors; stb_image rounds every output alike;
//   - YCbCr → RGB with 16-bit fixed-point constants (stb_image: 12-bit).
// stb_image alone lands within ±3 levels of PIL on about 1 % of the samples, enough to move a small face's
// MTCNN box by a pixel; with these stages every photo of the test set decodes bit for bit as PIL's.
// Plain kernels, no stb here: image.hpp runs them on the component planes stb_image decodes.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace facekit::detail::jpeg {

constexpr int kIdctConstBits = 13;  // jidctint.c's CONST_BITS: fixed-point bits of its constants
constexpr int kIdctPass1Bits = 2;   // PASS1_BITS: extra precision kept between the two passes

/// Eight int32 lanes (a row or a column of an 8×8 block) with wrapping arithmetic: plain loops the
/// compiler turns into vector instructions; wrapping keeps a corrupt file's huge coefficients defined.
struct Lanes8 {
    std::int32_t v[8];

    static Lanes8 splat(std::int32_t x) { return apply([x](std::uint32_t) { return std::uint32_t(x); }, Lanes8{}); }
    friend Lanes8 operator+(Lanes8 a, Lanes8 b) { return zip([](std::uint32_t x, std::uint32_t y) { return x + y; }, a, b); }
    friend Lanes8 operator-(Lanes8 a, Lanes8 b) { return zip([](std::uint32_t x, std::uint32_t y) { return x - y; }, a, b); }
    friend Lanes8 operator*(Lanes8 a, std::int32_t c) {
        return apply([c](std::uint32_t x) { return x * std::uint32_t(c); }, a);
    }
    Lanes8 shl(int n) const { return apply([n](std::uint32_t x) { return x << n; }, *this); }
    /// libjpeg's DESCALE: add half, arithmetic shift right.
    Lanes8 descale(int n) const {
        Lanes8 r = *this + splat(1 << (n - 1));
        for (auto& x : r.v) x >>= n;
        return r;
    }

private:
    template <class F> static Lanes8 apply(F f, Lanes8 a) {
        for (auto& x : a.v) x = std::int32_t(f(std::uint32_t(x)));
        return a;
    }
    template <class F> static Lanes8 zip(F f, Lanes8 a, Lanes8 b) {
        for (int i = 0; i < 8; ++i) a.v[i] = std::int32_t(f(std::uint32_t(a.v[i]), std::uint32_t(b.v[i])));
        return a;
    }
};

/// One 1-D pass of jidctint.c (the Loeffler–Ligtenberg–Moschytz IDCT, 12 multiplies), on 8 lanes at once:
/// in[k] holds coefficient k of each lane; out[k] gets sample k, descaled by `shift` bits.
inline void idct_islow_1d(const Lanes8 in[8], Lanes8 out[8], int shift) {
    constexpr std::int32_t c0_298631336 = 2446, c0_390180644 = 3196, c0_541196100 = 4433, c0_765366865 = 6270,
                           c0_899976223 = 7373, c1_175875602 = 9633, c1_501321110 = 12299, c1_847759065 = 15137,
                           c1_961570560 = 16069, c2_053119869 = 16819, c2_562915447 = 20995, c3_072711026 = 25172;
    // Even part: the rotator is sqrt(2)·c(−6).
    Lanes8 z1 = (in[2] + in[6]) * c0_541196100;
    Lanes8 tmp2 = z1 + in[6] * -c1_847759065, tmp3 = z1 + in[2] * c0_765366865;
    Lanes8 tmp0 = (in[0] + in[4]).shl(kIdctConstBits), tmp1 = (in[0] - in[4]).shl(kIdctConstBits);
    const Lanes8 t10 = tmp0 + tmp3, t13 = tmp0 - tmp3, t11 = tmp1 + tmp2, t12 = tmp1 - tmp2;
    // Odd part.
    tmp0 = in[7], tmp1 = in[5], tmp2 = in[3], tmp3 = in[1];
    Lanes8 z4 = tmp1 + tmp3, z3 = tmp0 + tmp2, z2 = tmp1 + tmp2;
    z1 = tmp0 + tmp3;
    const Lanes8 z5 = (z3 + z4) * c1_175875602;
    tmp3 = tmp3 * c1_501321110, tmp2 = tmp2 * c3_072711026, tmp1 = tmp1 * c2_053119869, tmp0 = tmp0 * c0_298631336;
    z4 = z4 * -c0_390180644 + z5, z3 = z3 * -c1_961570560 + z5;
    z1 = z1 * -c0_899976223, z2 = z2 * -c2_562915447;
    tmp3 = tmp3 + z1 + z4, tmp2 = tmp2 + z2 + z3, tmp1 = tmp1 + z2 + z4, tmp0 = tmp0 + z1 + z3;
    out[0] = (t10 + tmp3).descale(shift), out[7] = (t10 - tmp3).descale(shift);
    out[1] = (t11 + tmp2).descale(shift), out[6] = (t11 - tmp2).descale(shift);
    out[2] = (t12 + tmp1).descale(shift), out[5] = (t12 - tmp1).descale(shift);
    out[3] = (t13 + tmp0).descale(shift), out[4] = (t13 - tmp0).descale(shift);
}

/// libjpeg's range-limit table after the IDCT: the value wraps at 10 bits (RANGE_MASK), then is
/// centred on 128 and clamped.
inline std::uint8_t idct_range_limit(std::int32_t x) {
    const std::int32_t v = std::int32_t((std::uint32_t(x) + 512u) & 1023u) - 512 + 128;  // wrapped to [-512, 512), centred
    return std::uint8_t(std::min(std::max(v, 0), 255));
}

/// jpeg_idct_islow: dequantised coefficients (natural order) → 8×8 samples. stb_image's kernel signature.
inline void idct_islow_8x8(std::uint8_t* out, int out_stride, short coef[64]) {
    Lanes8 in[8], mid[8], rows[8], res[8];
    for (int k = 0; k < 8; ++k)
        for (int c = 0; c < 8; ++c) in[k].v[c] = coef[k * 8 + c];
    idct_islow_1d(in, mid, kIdctConstBits - kIdctPass1Bits);  // columns: lane c, mid[k] = row k
    for (int k = 0; k < 8; ++k)
        for (int r = 0; r < 8; ++r) rows[k].v[r] = mid[r].v[k];  // rows: lane r
    idct_islow_1d(rows, res, kIdctConstBits + kIdctPass1Bits + 3);  // 3: the 2-D IDCT's factor of 8
    std::uint8_t samples[8][8];  // [column][row]
    for (int k = 0; k < 8; ++k)
        for (int r = 0; r < 8; ++r) samples[k][r] = idct_range_limit(res[k].v[r]);
    for (int r = 0; r < 8; ++r)
        for (int k = 0; k < 8; ++k) out[r * out_stride + k] = samples[k][r];
}

/// One component plane as the decoder left it, with the factors it is upsampled by.
struct Plane {
    const std::uint8_t* data;
    int stride, width, height;  // width, height: libjpeg's downsampled_width/height
    int h_factor, v_factor;     // max sampling factor / this component's
    const std::uint8_t* row(int y) const { return data + std::size_t(std::clamp(y, 0, height - 1)) * stride; }
    /// For output row y of a 2:1 vertical upsampling: the nearer input row, then the further one
    /// (above for even y, below for odd y).
    const std::uint8_t* nearer_row(int y) const { return row(y >> 1); }
    const std::uint8_t* further_row(int y) const { return row((y & 1) ? (y >> 1) + 1 : (y >> 1) - 1); }
};

/// Buffers for upsample_row, sized once per image.
struct UpsampleScratch {
    std::vector<std::int16_t> sums;  // a row's inputs (or column sums) with one edge sample repeated each side
    std::vector<std::uint8_t> out;
    explicit UpsampleScratch(int width, int plane_width)
        : sums(std::size_t(plane_width) + 2), out(std::size_t(std::max(width, 2 * plane_width))) {}
};

/// The triangle filter across a row, two outputs per input: 3/4 of the nearer sample + 1/4 of the further,
/// on `sum[-1 .. w]` (edges repeated), rounded +kLeftBias / +kRightBias, shifted right by kShift.
template <int kLeftBias, int kRightBias, int kShift>
inline void horizontal_triangle(const std::int16_t* sum, int w, std::uint8_t* out) {
    for (int i = 0; i < w; ++i) {
        out[2 * i] = std::uint8_t((sum[i] * 3 + sum[i - 1] + kLeftBias) >> kShift);
        out[2 * i + 1] = std::uint8_t((sum[i] * 3 + sum[i + 1] + kRightBias) >> kShift);
    }
}

/// Output row y of a plane upsampled to `width` samples, as libjpeg-turbo's jdsample.c does it with
/// fancy upsampling: the h2v1 and h2v2 triangle filters (for planes wider than 2 samples), h1v2, and box
/// replication for every other integral factor. Rows above and below the plane repeat its edge rows;
/// libjpeg's special first and last columns are the general formula with the edge sample repeated.
/// Returns the row: in the scratch buffer, or in the plane when nothing is to be done.
inline const std::uint8_t* upsample_row(const Plane& p, int y, int width, UpsampleScratch& s) {
    const int w = p.width;
    std::int16_t* sum = s.sums.data() + 1;  // sum[-1] and sum[w] are the repeated edges
    std::uint8_t* out = s.out.data();
    if (p.h_factor == 1 && p.v_factor == 1) return p.row(y);
    if (p.h_factor == 1 && p.v_factor == 2) {  // h1v2_fancy_upsample: rounding +1 upper row, +2 lower
        const std::uint8_t *near = p.nearer_row(y), *far = p.further_row(y);
        const int bias = 1 + (y & 1);
        for (int i = 0; i < w; ++i) out[i] = std::uint8_t((near[i] * 3 + far[i] + bias) >> 2);
        return out;
    }
    if (p.h_factor == 2 && p.v_factor == 1 && w > 2) {  // h2v1_fancy_upsample: rounding +1 left, +2 right
        const std::uint8_t* in = p.row(y);
        for (int i = 0; i < w; ++i) sum[i] = in[i];
        sum[-1] = sum[0], sum[w] = sum[w - 1];
        horizontal_triangle<1, 2, 2>(sum, w, out);
        return out;
    }
    if (p.h_factor == 2 && p.v_factor == 2 && w > 2) {  // h2v2_fancy_upsample: rounding +8 left, +7 right
        const std::uint8_t *near = p.nearer_row(y), *far = p.further_row(y);
        for (int i = 0; i < w; ++i) sum[i] = std::int16_t(near[i] * 3 + far[i]);  // vertical pass first
        sum[-1] = sum[0], sum[w] = sum[w - 1];
        horizontal_triangle<8, 7, 4>(sum, w, out);
        return out;
    }
    const std::uint8_t* in = p.row(y / p.v_factor);  // int_upsample, h2v1_upsample, h2v2_upsample
    for (int i = 0; i < width; ++i) out[i] = in[i / p.h_factor];
    return out;
}

/// ycc_rgb_convert (jdcolor.c): 16-bit fixed point, each product rounded as libjpeg's tables round it.
/// Works on chunks of a fixed size (vector code even at -O2), planar R, G, B interleaved per chunk.
inline void ycc_to_rgb_row(const std::uint8_t* y, const std::uint8_t* cb, const std::uint8_t* cr, int n, std::uint8_t* rgb) {
    constexpr int kScaleBits = 16, kChunk = 64;
    constexpr std::int32_t kHalf = 1 << (kScaleBits - 1);
    constexpr auto fix = [](double x) { return std::int32_t(x * (1 << kScaleBits) + 0.5); };
    constexpr std::int32_t kCrR = fix(1.40200), kCbB = fix(1.77200), kCrG = fix(0.71414), kCbG = fix(0.34414);
    auto clamp = [](std::int32_t v) { return std::uint8_t(std::min(std::max(v, 0), 255)); };
    std::uint8_t r[kChunk], g[kChunk], b[kChunk], tail[3][kChunk] = {};
    for (int x0 = 0; x0 < n; x0 += kChunk) {
        const int m = std::min(kChunk, n - x0);
        const std::uint8_t *Y = y + x0, *CB = cb + x0, *CR = cr + x0;
        if (m < kChunk) {  // the row's last, partial chunk: padded copies
            std::copy(Y, Y + m, tail[0]), std::copy(CB, CB + m, tail[1]), std::copy(CR, CR + m, tail[2]);
            Y = tail[0], CB = tail[1], CR = tail[2];
        }
        for (int i = 0; i < kChunk; ++i) {
            const std::int32_t luma = Y[i], blue = CB[i] - 128, red = CR[i] - 128;
            r[i] = clamp(luma + ((kCrR * red + kHalf) >> kScaleBits));
            g[i] = clamp(luma + ((-kCbG * blue + kHalf - kCrG * red) >> kScaleBits));
            b[i] = clamp(luma + ((kCbB * blue + kHalf) >> kScaleBits));
        }
        std::uint8_t* out = rgb + 3 * std::size_t(x0);
        for (int i = 0; i < m; ++i) out[3 * i] = r[i], out[3 * i + 1] = g[i], out[3 * i + 2] = b[i];
    }
}

}  // namespace facekit::detail::jpeg
