// facekit/io/stb.hpp: the one place facekit meets stb_image and stb_image_write. Configures and compiles
// them (JPEG, PNG and BMP only; from memory; static, unless FACEKIT_STB_EXTERNAL says the program compiles
// them itself), and wraps the stb_image internals that the PIL-exact JPEG path needs (JpegDecoder): its
// entropy decoding with facekit's IDCT, and the decoded component planes. Everything else calls stb's
// public API. The internals are those of stb_image 2.2x (Debian 12 ships 2.27); a stb without them fails
// to compile here, with a message, not deep inside image.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "jpeg.hpp"

#ifndef FACEKIT_STB_EXTERNAL  // define it if your program already compiles the stb implementations
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12, on stb's I/O callbacks: a false positive
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"  // stb's invalid_chunk under STBI_FAILURE_USERMSG
#endif
// stb_image 2.27 (Debian 12) lets a corrupt JPEG's DC sums grow without bound and multiplies them in int
// (2.28 refuses such files): signed overflow, undefined behaviour. Its functions are compiled with
// wrapping arithmetic (GCC: -fwrapv; clang has no per-function form, so the sanitizer's check is turned
// off for them and the multiply wraps as the hardware does): such a file decodes to noise.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("signed-integer-overflow"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("wrapv")
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#if !defined(STBI_VERSION) || STBI_VERSION != 1
#error "facekit: unsupported stb_image (STBI_VERSION != 1); facekit is tested with stb_image 2.27"
#endif

#ifndef FACEKIT_STB_EXTERNAL
namespace facekit::detail::stb {

template <class J, class = void>
struct has_jpeg_internals : std::false_type {};
template <class J>
struct has_jpeg_internals<J, std::void_t<decltype(J::s), decltype(J::img_comp[0].data), decltype(J::img_comp[0].w2),
                                         decltype(J::img_comp[0].x), decltype(J::img_comp[0].y), decltype(J::img_h_max),
                                         decltype(J::img_v_max), decltype(J::rgb), decltype(J::app14_color_transform),
                                         decltype(J::jfif), decltype(J::idct_block_kernel)>> : std::true_type {};
static_assert(has_jpeg_internals<stbi__jpeg>::value,
              "facekit: this stb_image lacks the stbi__jpeg members the PIL-exact JPEG path reads (stb_image 2.2x); "
              "define FACEKIT_STB_EXTERNAL to decode JPEGs with stb_image's own IDCT instead");

/// A JPEG decoded by stb_image's entropy decoder with libjpeg-turbo's integer IDCT (jpeg.hpp), its
/// component planes left for facekit's upsampling and colour conversion. Owns stb's buffers.
class JpegDecoder {
public:
    JpegDecoder() = default;
    JpegDecoder(const JpegDecoder&) = delete;
    JpegDecoder& operator=(const JpegDecoder&) = delete;
    ~JpegDecoder() {
        if (j_) stbi__cleanup_jpeg(j_), STBI_FREE(j_);
    }

    /// Decodes the file's scans; false (stbi_failure_reason() says why) for a corrupt file.
    bool decode(const std::uint8_t* data, std::size_t size) {
        stbi__start_mem(&ctx_, data, int(size));
        ctx_.img_n = 0;  // stbi__cleanup_jpeg frees img_n components
        j_ = static_cast<stbi__jpeg*>(stbi__malloc(sizeof(stbi__jpeg)));
        if (!j_) return stbi__err("outofmem", "out of memory decoding JPEG"), false;
        j_->s = &ctx_;
        stbi__setup_jpeg(j_);
        j_->idct_block_kernel = jpeg::idct_islow_8x8;
        return stbi__decode_jpeg_image(j_) != 0;
    }
    int width() const noexcept { return int(ctx_.img_x); }
    int height() const noexcept { return int(ctx_.img_y); }
    int components() const noexcept { return ctx_.img_n; }
    /// Component k as a plane; false where its sampling factors do not divide the largest.
    bool plane(int k, jpeg::Plane& p) const {
        const auto& c = j_->img_comp[k];
        if (j_->img_h_max % c.h || j_->img_v_max % c.v) return false;
        p = {c.data, c.w2, c.x, c.y, j_->img_h_max / c.h, j_->img_v_max / c.v};
        return true;
    }
    /// Three components that hold R, G, B rather than Y, Cb, Cr (as libjpeg decides it).
    bool stores_rgb() const noexcept { return j_->rgb == 3 || (j_->app14_color_transform == 0 && !j_->jfif); }

private:
    stbi__context ctx_{};
    stbi__jpeg* j_ = nullptr;
};

}  // namespace facekit::detail::stb
#endif
