// facekit/pipeline/image.hpp: the RGB image at the pipeline's entrance, and its loading and saving.
// JPEG, PNG and BMP are decoded with stb_image (grey and RGBA become RGB, alpha is dropped as PIL's
// convert('RGB') does). The header is read first and the size checked against a bound, so that a file
// claiming 60000×60000 pixels is refused before anything is allocated.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../core/error.hpp"

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
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace facekit {

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
struct Image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // width × height × 3

    Image() = default;
    Image(int w, int h) : width(w), height(h), pixels(std::size_t(w) * h * 3, 0) {
        if (w <= 0 || h <= 0) throw InvalidArgument("image size must be positive");
    }
    bool empty() const noexcept { return width == 0 || height == 0; }
    const std::uint8_t* row(int y) const noexcept { return pixels.data() + std::size_t(y) * width * 3; }
    std::uint8_t* row(int y) noexcept { return pixels.data() + std::size_t(y) * width * 3; }
    std::uint8_t* at(int x, int y) noexcept { return row(y) + std::size_t(x) * 3; }
    const std::uint8_t* at(int x, int y) const noexcept { return row(y) + std::size_t(x) * 3; }
};

struct ImageLimits {
    std::int64_t max_pixels = 100'000'000;  // 100 MP; a 60000×60000 header is refused
    int max_side = 65535;
    std::size_t max_file_bytes = std::size_t(512) << 20;
};

namespace detail {
inline std::vector<std::uint8_t> read_file(const std::string& path, std::size_t max_bytes) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<std::uint8_t> data;
    std::uint8_t chunk[1 << 16];
    std::size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (data.size() + n > max_bytes) {
            std::fclose(f);
            throw FileError(path, "file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
        }
        data.insert(data.end(), chunk, chunk + n);
    }
    const bool err = std::ferror(f);
    std::fclose(f);
    if (err) throw FileError(path, "read error");
    return data;
}
}  // namespace detail

/// Decodes a JPEG, PNG or BMP held in memory. `name` is used in error messages.
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageLimits& limits = {}) {
    if (size == 0) throw FileError(name, "empty file");
    if (size > std::size_t(INT32_MAX)) throw FileError(name, "file too large to decode");
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, int(size), &w, &h, &comp))
        throw FileError(name, std::string("not a supported image (JPEG, PNG or BMP): ") + stbi_failure_reason());
    if (w <= 0 || h <= 0) throw FileError(name, "image has no pixels");
    if (w > limits.max_side || h > limits.max_side || std::int64_t(w) * h > limits.max_pixels)
        throw FileError(name, "image is " + std::to_string(w) + "×" + std::to_string(h) + ", over the limit of " +
                                  std::to_string(limits.max_pixels) + " pixels");
    // stb_image accepts a JPEG cut short and fills the missing part; a complete JPEG ends with EOI (FF D9).
    if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        std::size_t end = size;
        while (end > 2 && (data[end - 1] == 0x00 || data[end - 1] == 0x0A || data[end - 1] == 0x0D || data[end - 1] == 0x20)) --end;
        if (end < 4 || data[end - 2] != 0xFF || data[end - 1] != 0xD9) throw FileError(name, "truncated JPEG (no end-of-image marker)");
    }
    int got = 0;
    std::uint8_t* px = stbi_load_from_memory(data, int(size), &w, &h, &got, 3);
    if (!px) throw FileError(name, std::string("cannot decode image: ") + stbi_failure_reason());
    Image img;
    img.width = w, img.height = h;
    img.pixels.assign(px, px + std::size_t(w) * h * 3);
    stbi_image_free(px);
    return img;
}

/// Loads a JPEG, PNG or BMP file as RGB. Throws FileError naming the file and the problem.
inline Image load_image(const std::string& path, const ImageLimits& limits = {}) {
    auto bytes = detail::read_file(path, limits.max_file_bytes);
    return decode_image(bytes.data(), bytes.size(), path, limits);
}

/// Writes an RGB image as PNG.
inline void save_png(const Image& img, const std::string& path) {
    if (img.empty()) throw InvalidArgument("save_png: empty image");
    if (!stbi_write_png(path.c_str(), img.width, img.height, 3, img.pixels.data(), img.width * 3))
        throw FileError(path, "cannot write PNG");
}

}  // namespace facekit
