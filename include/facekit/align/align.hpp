// facekit/align/align.hpp: from a detection to the crop an embedder reads.
//
// crop_face:      facenet-pytorch's extract_face: a box (with optional margin) truncated to integers,
//                 cropped and resized with Pillow's BILINEAR (bit-exact, see resample.hpp). FaceNet input.
// similarity_transform + warp_affine: 5-point alignment. The least-squares similarity (Umeyama, no
//                 reflection) that maps the landmarks onto a template, applied with OpenCV's warpAffine
//                 bilinear arithmetic (1/32-pixel positions, 15-bit weights, zero border), which is how the
//                 MobileFaceNet reference crops were made.
#pragma once
#include <array>
#include <cmath>

#include "../engine/intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <Eigen/Dense>

#include "../types.hpp"
#include "../io/image.hpp"
#include "../io/resample.hpp"

namespace facekit {

/// How an embedding network wants its faces cut out: each network declares it (Net::kAlignment), the
/// embedder follows it.
enum class Alignment {
    MarginCrop,  ///< crop_face: the box (plus a margin) resized to the input, as facenet-pytorch's MTCNN
    FivePoint,   ///< align_face: the 5 landmarks mapped onto the ArcFace template by a similarity
};

/// facenet-pytorch's extract_face(img, box, image_size, margin): a size×size crop.
inline Image crop_face(const Image& img, const std::array<float, 4>& box, int size = 160, int margin = 0) {
    if (size <= 0 || margin < 0 || margin >= size) FACEKIT_THROW(InvalidArgument("crop_face: bad size or margin"));
    const float mx = float(margin) * (box[2] - box[0]) / float(size - margin);
    const float my = float(margin) * (box[3] - box[1]) / float(size - margin);
    auto trunc = [](float v) { return std::isfinite(v) ? int(std::max(-1e9f, std::min(v, 1e9f))) : 0; };
    PixelRect r{trunc(std::max(box[0] - mx / 2, 0.0f)), trunc(std::max(box[1] - my / 2, 0.0f)),
                trunc(std::min(box[2] + mx / 2, float(img.width))), trunc(std::min(box[3] + my / 2, float(img.height)))};
    // A box wholly outside the image still yields a (1-pixel) crop rather than an invalid region.
    r.x0 = std::min(r.x0, img.width - 1), r.y0 = std::min(r.y0, img.height - 1);
    r.x1 = std::max(r.x1, r.x0 + 1), r.y1 = std::max(r.y1, r.y0 + 1);
    return pil_bilinear_resize(img, r, size, size);
}
inline Image crop_face(const Image& img, const Detection& d, int size = 160, int margin = 0) {
    return crop_face(img, d.box, size, margin);
}

/// A 2×3 affine map: (x', y') = (m[0]x + m[1]y + m[2], m[3]x + m[4]y + m[5]).
using Affine = std::array<double, 6>;

/// The ArcFace 112×112 template that MobileFaceNet's training crops follow (eyes, nose, mouth corners).
inline constexpr std::array<Point, 5> kArcFaceTemplate112 = {
    Point{38.2946f, 51.6963f}, Point{73.5318f, 51.5014f}, Point{56.0252f, 71.7366f},
    Point{41.5493f, 92.3655f}, Point{70.7299f, 92.2041f}};

/// Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping `src` onto
/// `dst` (Umeyama 1991, as skimage's SimilarityTransform estimates it).
template <std::size_t N>
Affine similarity_transform(const std::array<Point, N>& src, const std::array<Point, N>& dst) {
    static_assert(N >= 2, "a similarity needs at least two point pairs");
    Eigen::Matrix<double, 2, int(N)> s, d;  // fixed size: no heap
    for (std::size_t i = 0; i < N; ++i) s.col(i) << src[i].x, src[i].y, d.col(i) << dst[i].x, dst[i].y;
    const Eigen::Vector2d ms = s.rowwise().mean(), md = d.rowwise().mean();
    s.colwise() -= ms, d.colwise() -= md;
    const Eigen::Matrix2d a = d * s.transpose() / double(N);
    Eigen::JacobiSVD<Eigen::Matrix2d> svd(a, Eigen::ComputeFullU | Eigen::ComputeFullV);
    Eigen::Vector2d sign(1.0, 1.0);
    if (a.determinant() < 0) sign(1) = -1.0;
    const Eigen::Matrix2d r = svd.matrixU() * sign.asDiagonal() * svd.matrixV().transpose();
    const double var = s.squaredNorm() / double(N);
    if (!(var > 0)) FACEKIT_THROW(InvalidArgument("similarity_transform: the source points coincide"));
    const double scale = svd.singularValues().dot(sign) / var;
    const Eigen::Vector2d t = md - scale * r * ms;
    return {scale * r(0, 0), scale * r(0, 1), t(0), scale * r(1, 0), scale * r(1, 1), t(1)};
}

/// Inverse of an affine map (the one warp_affine needs: destination → source).
inline Affine invert(const Affine& m) {
    const double det = m[0] * m[4] - m[1] * m[3];
    if (!(std::abs(det) > 1e-12)) FACEKIT_THROW(InvalidArgument("affine map is not invertible"));
    const double a = m[4] / det, b = -m[1] / det, c = -m[3] / det, d = m[0] / det;
    return {a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])};
}

/// cv2.warpAffine(img, m, (w, h), INTER_LINEAR, BORDER_CONSTANT 0) for 8-bit RGB, with m mapping
/// source to destination coordinates, into `out` (its memory reused: no allocation once it has held as
/// many pixels).
inline void warp_affine(const Image& img, const Affine& m, int out_w, int out_h, Image& out) {
    constexpr int kAbBits = 10, kInterBits = 5, kTab = 1 << kInterBits, kAbScale = 1 << kAbBits;
    if (out_w <= 0 || out_h <= 0) FACEKIT_THROW(InvalidArgument("warp_affine: the output size must be positive"));
    const Affine inv = invert(m);
    auto round_int = [](double v) { return int(std::nearbyint(std::max(-2e9, std::min(v, 2e9)))); };
    out.width = out_w, out.height = out_h;
    out.pixels.resize(std::size_t(out_w) * out_h * 3);
    // OpenCV's per-column offsets (adelta, bdelta), computed where they are used: no table to allocate
    auto adelta = [&](int x) { return round_int(inv[0] * x * kAbScale); };
    auto bdelta = [&](int x) { return round_int(inv[3] * x * kAbScale); };
    const int round_delta = kAbScale / kTab / 2;
    for (int y = 0; y < out_h; ++y) {
        const int x0 = round_int((inv[1] * y + inv[2]) * kAbScale) + round_delta;
        const int y0 = round_int((inv[4] * y + inv[5]) * kAbScale) + round_delta;
        for (int x = 0; x < out_w; ++x) {
            const int xf = (x0 + adelta(x)) >> (kAbBits - kInterBits), yf = (y0 + bdelta(x)) >> (kAbBits - kInterBits);
            const int sx = xf >> kInterBits, sy = yf >> kInterBits, ax = xf & (kTab - 1), ay = yf & (kTab - 1);
            // 15-bit weights of the four neighbours; (32 − a)(32 − b)·32 sums to exactly 32768.
            const int w[4] = {(kTab - ay) * (kTab - ax) * 32, (kTab - ay) * ax * 32, ay * (kTab - ax) * 32, ay * ax * 32};
            std::uint8_t* dst = out.at(x, y);
            for (int c = 0; c < 3; ++c) {
                int acc = 0;
                for (int k = 0; k < 4; ++k) {
                    const int px = sx + (k & 1), py = sy + (k >> 1);
                    if (px >= 0 && py >= 0 && px < img.width && py < img.height) acc += img.at(px, py)[c] * w[k];
                }
                dst[c] = std::uint8_t(std::min(255, std::max(0, (acc + (1 << 14)) >> 15)));
            }
        }
    }
}
inline Image warp_affine(const Image& img, const Affine& m, int out_w, int out_h) {
    Image out;
    warp_affine(img, m, out_w, out_h, out);
    return out;
}

/// The 5-point aligned crop of a detection onto a template (default: ArcFace 112×112).
inline Image align_face(const Image& img, const std::array<Point, 5>& landmarks,
                        const std::array<Point, 5>& tmpl = kArcFaceTemplate112, int out_w = 112, int out_h = 112) {
    return warp_affine(img, similarity_transform(landmarks, tmpl), out_w, out_h);
}
/// The same into `out`, whose memory is reused.
inline void align_face(const Image& img, const std::array<Point, 5>& landmarks, Image& out,
                       const std::array<Point, 5>& tmpl = kArcFaceTemplate112, int out_w = 112, int out_h = 112) {
    warp_affine(img, similarity_transform(landmarks, tmpl), out_w, out_h, out);
}

}  // namespace facekit
