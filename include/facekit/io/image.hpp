// facekit/io/image.hpp: the RGB image at the pipeline's entrance, and its loading and saving.
// JPEG, PNG and BMP are decoded with stb_image (grey and RGBA become RGB, alpha is dropped as PIL's
// convert('RGB') does); JPEGs are turned upright by their EXIF orientation unless told not to (exif.hpp). The header is read first and the size checked against a bound, so that a file
// claiming 60000×60000 pixels is refused before anything is allocated.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../engine/error.hpp"
#include "exif.hpp"
#include "jpeg.hpp"

#include "stb.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace facekit {

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
struct Image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // width × height × 3

    Image() = default;
    Image(int w, int h) : width(w), height(h), pixels(std::size_t(w) * h * 3, 0) {
        if (w <= 0 || h <= 0) FACEKIT_THROW(InvalidArgument("image size must be positive"));
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
/// The bytes of a regular file of at most `max_bytes`. Anything else is refused before it is read: a FIFO
/// would block forever, /dev/zero never ends, a directory has no bytes.
inline Status try_read_file(const std::string& path, std::size_t max_bytes, std::vector<std::uint8_t>& out) {
#if defined(__unix__) || defined(__APPLE__)
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // O_NONBLOCK: a FIFO's open waits
    if (fd < 0) return Status::file_error(path, std::string("cannot open: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) return Status::file_error(path, std::string("cannot stat: ") + std::strerror(errno));
    if (!S_ISREG(sb.st_mode)) return Status::file_error(path, "not a regular file");
    if (std::uint64_t(sb.st_size) > max_bytes)
        return Status::file_error(path, "file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
    std::vector<std::uint8_t> data(std::size_t(sb.st_size));
    std::size_t got = 0;
    while (got < data.size()) {
        const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::file_error(path, std::string("read error: ") + std::strerror(errno));
        if (n == 0) break;  // shrank while read
        got += std::size_t(n);
    }
    data.resize(got);
    out = std::move(data);
    return {};
#else
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Status::file_error(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<std::uint8_t> data;
    std::uint8_t chunk[1 << 16];
    std::size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (data.size() + n > max_bytes) {
            std::fclose(f);
            return Status::file_error(path, "file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
        }
        data.insert(data.end(), chunk, chunk + n);
    }
    const bool err = std::ferror(f);
    std::fclose(f);
    if (err) return Status::file_error(path, "read error");
    out = std::move(data);
    return {};
#endif
}
/// The same, raising FileError.
inline std::vector<std::uint8_t> read_file(const std::string& path, std::size_t max_bytes) {
    std::vector<std::uint8_t> data;
    try_read_file(path, max_bytes, data).raise_if_error();
    return data;
}
/// Width and height from a PNG (IHDR), BMP (BITMAPINFOHEADER) or JPEG (SOFn) header, without decoding.
/// Returns false when the header is not one of these or is too short.
inline bool header_size(const std::uint8_t* d, std::size_t n, std::int64_t& w, std::int64_t& h) {
    auto be16 = [&](std::size_t i) { return std::int64_t(d[i]) << 8 | d[i + 1]; };
    auto be32 = [&](std::size_t i) { return be16(i) << 16 | be16(i + 2); };
    auto le32 = [&](std::size_t i) { return std::int64_t(std::int32_t(std::uint32_t(d[i]) | std::uint32_t(d[i + 1]) << 8 | std::uint32_t(d[i + 2]) << 16 | std::uint32_t(d[i + 3]) << 24)); };
    if (n >= 24 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0) {
        w = be32(16), h = be32(20);
        return true;
    }
    if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
        w = le32(18), h = le32(22);
        if (h < 0) h = -h;  // top-down bitmap
        return true;
    }
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) {
        for (std::size_t i = 2; i + 9 < n;) {
            if (d[i] != 0xFF) return false;
            const std::uint8_t m = d[i + 1];
            if (m == 0xFF) { ++i; continue; }
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                h = be16(i + 5), w = be16(i + 7);
                return true;
            }
            i += 2 + std::size_t(be16(i + 2));
        }
    }
    return false;
}
/// Screens a JPEG's marker segments (also those between progressive scans) the way stb_image reads them,
/// for two inputs it mishandles. A Huffman table (DHT) with more than 256 codes overflows a 257-byte array
/// in the stb_image Debian 12 ships. A scan that uses a Huffman or quantisation table no segment defined
/// makes stb read its never-initialised table memory: garbage pixels, or an out-of-bounds read when the
/// stale bytes happen to form an inconsistent Huffman table. Returns false with `why` set for either.
inline bool screen_jpeg(const std::uint8_t* d, std::size_t n, std::string& why) {
    // stb reads bytes past the end of the file as zero
    auto at = [&](std::size_t p) -> unsigned { return p < n ? d[p] : 0u; };
    // stb finds the start-of-image marker after any number of 0xFF fill bytes, as it finds every marker
    std::size_t i = 0;
    while (i < n && d[i] == 0xFF) ++i;
    if (i == 0 || i >= n || d[i] != 0xD8) return true;  // not a JPEG
    ++i;
    bool dc_defined[4] = {}, ac_defined[4] = {}, quant_defined[4] = {}, progressive = false, have_frame = false;
    unsigned component_id[4] = {}, component_quant[4] = {}, components = 0;
    while (i + 1 < n) {
        if (d[i] != 0xFF) {  // entropy-coded data: look for the next marker
            ++i;
            continue;
        }
        const std::uint8_t m = d[i + 1];
        if (m == 0xFF) {
            ++i;
            continue;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // stuffed byte, TEM, restart markers
            i += 2;
            continue;
        }
        if (m == 0xD9 || i + 4 > n) break;
        const std::size_t len = std::size_t(d[i + 2]) << 8 | d[i + 3];
        const std::size_t body = i + 4;
        if (m == 0xC4) {  // DHT: tables follow while the segment's remaining length is positive
            long remaining = long(len) - 2;
            for (std::size_t p = body; remaining > 0 && p < n;) {
                const unsigned tc = at(p) >> 4, th = at(p) & 15;
                std::size_t codes = 0;
                for (std::size_t k = 1; k <= 16; ++k) codes += at(p + k);
                if (codes > 256) return why = "corrupt JPEG (a Huffman table with more than 256 codes)", false;
                if (th < 4) (tc == 0 ? dc_defined : ac_defined)[th] = true;
                p += 17 + codes;
                remaining -= long(17 + codes);
            }
        } else if (m == 0xDB) {  // DQT: 64 entries of 8 or 16 bits per table
            long remaining = long(len) - 2;
            for (std::size_t p = body; remaining > 0 && p < n;) {
                const unsigned precision = at(p) >> 4, tq = at(p) & 15;
                if (tq < 4) quant_defined[tq] = true;
                const std::size_t bytes = 1 + (precision ? 128 : 64);
                p += bytes;
                remaining -= long(bytes);
            }
        } else if ((m == 0xC0 || m == 0xC1 || m == 0xC2) && !have_frame) {  // the frame stb decodes
            have_frame = true;
            progressive = m == 0xC2;
            components = std::min(at(body + 5), 4u);
            for (unsigned c = 0; c < components; ++c)
                component_id[c] = at(body + 6 + 3 * c), component_quant[c] = at(body + 8 + 3 * c) & 3;
        } else if (m == 0xDA) {  // SOS: every table this scan uses must already be defined
            const unsigned scan_components = at(body);
            const std::size_t tail = body + 1 + 2 * std::size_t(scan_components);
            const unsigned spectral_start = at(tail), approx_high = at(tail + 2) >> 4;
            for (unsigned s = 0; s < scan_components && s < 4; ++s) {
                const unsigned id = at(body + 1 + 2 * s), td = at(body + 2 + 2 * s) >> 4, ta = at(body + 2 + 2 * s) & 15;
                if (td > 3 || ta > 3) break;  // stb refuses these itself
                const bool uses_dc = !progressive || (spectral_start == 0 && approx_high == 0);
                const bool uses_ac = !progressive || spectral_start != 0;
                if ((uses_dc && !dc_defined[td]) || (uses_ac && !ac_defined[ta]))
                    return why = "corrupt JPEG (a scan uses a Huffman table that was never defined)", false;
                for (unsigned c = 0; c < components; ++c)
                    if (component_id[c] == id && !quant_defined[component_quant[c]])
                        return why = "corrupt JPEG (a scan uses a quantisation table that was never defined)", false;
            }
        }
        i += 2 + len;
    }
    return true;
}

/// Screens a PNG's chunks the way stb_image walks them, for two inputs it mishandles: a chunk that claims
/// more bytes than the file holds (stb reallocates up to that size, gigabytes for a 70-byte file, before it
/// notices) is refused (returns false); zero-length IDAT chunks (stb passes a null pointer to memcpy for
/// them, undefined behaviour) are dropped into `cleaned`, which stays empty when nothing was dropped.
inline bool screen_png(const std::uint8_t* d, std::size_t n, std::vector<std::uint8_t>& cleaned, std::string& why) {
    cleaned.clear();
    if (n < 8 || std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0) return true;
    std::size_t copied = 0;
    for (std::size_t i = 8; i + 8 <= n;) {
        const std::size_t len = std::size_t(d[i]) << 24 | std::size_t(d[i + 1]) << 16 | std::size_t(d[i + 2]) << 8 | d[i + 3];
        if (len > n - i - 8) {
            why = "truncated PNG (a chunk claims " + std::to_string(len) + " bytes, " + std::to_string(n - i - 8) + " remain)";
            return false;
        }
        if (std::memcmp(d + i + 4, "IEND", 4) == 0) break;
        if (len == 0 && std::memcmp(d + i + 4, "IDAT", 4) == 0) {
            cleaned.insert(cleaned.end(), d + copied, d + i);
            copied = std::min(n, i + 12);
        }
        i += 12 + len;
    }
    if (copied) cleaned.insert(cleaned.end(), d + copied, d + n);
    return true;
}
}  // namespace detail

#ifndef FACEKIT_STB_EXTERNAL
namespace detail {
/// Decodes a JPEG as libjpeg-turbo (and so PIL) does: stb_image's entropy decoding with libjpeg-turbo's
/// IDCT, upsampling and colour conversion (see jpeg.hpp). Returns false, having decoded nothing, for the
/// four-component (CMYK/YCCK) files it leaves to stb_image (`decoded` false). An error on a corrupt file.
inline Status decode_jpeg_like_libjpeg(const std::uint8_t* data, std::size_t size, const std::string& name, Image& img,
                                       bool& decoded) {
    decoded = false;
    stb::JpegDecoder j;
    if (!j.decode(data, size)) return Status::file_error(name, std::string("cannot decode image: ") + stbi_failure_reason());
    const int width = j.width(), height = j.height(), n = j.components();
    if (n != 1 && n != 3) return {};
    jpeg::Plane planes[3];
    std::vector<jpeg::UpsampleScratch> scratch;
    for (int k = 0; k < n; ++k) {
        if (!j.plane(k, planes[k])) return Status::file_error(name, "JPEG with fractional sampling factors");
        scratch.emplace_back(width, planes[k].width);
    }
    const bool is_rgb = n == 3 && j.stores_rgb();
    img = Image(width, height);
    for (int y = 0; y < height; ++y) {
        std::uint8_t* out = img.row(y);
        const std::uint8_t* c0 = jpeg::upsample_row(planes[0], y, width, scratch[0]);
        if (n == 1) {
            for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = c0[x];
            continue;
        }
        const std::uint8_t* c1 = jpeg::upsample_row(planes[1], y, width, scratch[1]);
        const std::uint8_t* c2 = jpeg::upsample_row(planes[2], y, width, scratch[2]);
        if (is_rgb)
            for (int x = 0; x < width; ++x) out[3 * x] = c0[x], out[3 * x + 1] = c1[x], out[3 * x + 2] = c2[x];
        else
            jpeg::ycc_to_rgb_row(c0, c1, c2, width, out);
    }
    decoded = true;
    return {};
}
}  // namespace detail
#endif

namespace detail {
inline Status decode_stored_pixels(const std::uint8_t* data, std::size_t size, const std::string& name,
                                   const ImageLimits& limits, Image& out);
}

/// Decodes a JPEG, PNG or BMP held in memory into `out`, a JPEG turned upright by its EXIF orientation
/// unless `exif` is Exif::Ignore. `name` is used in error messages. Never raises: a bad image is an error
/// status naming `name` and the problem, and leaves `out` as it was.
inline Status try_decode_image(const std::uint8_t* data, std::size_t size, const std::string& name, Image& out,
                               const ImageLimits& limits = {}, Exif exif = Exif::Apply) {
    Image img;
    Status s = detail::decode_stored_pixels(data, size, name, limits, img);
    if (!s) return s;
    if (exif == Exif::Apply) {
        const int orientation = detail::jpeg_exif_orientation(data, size);
        if (orientation != 1) img = upright(img, orientation);
    }
    out = std::move(img);
    return {};
}

/// The same, raising FileError.
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageLimits& limits = {}, Exif exif = Exif::Apply) {
    Image img;
    try_decode_image(data, size, name, img, limits, exif).raise_if_error();
    return img;
}

/// The pixels as the file stores them.
inline Status detail::decode_stored_pixels(const std::uint8_t* data, std::size_t size, const std::string& name,
                                           const ImageLimits& limits, Image& out) {
    if (size == 0) return Status::file_error(name, "empty file");
    if (size > std::size_t(INT32_MAX)) return Status::file_error(name, "file too large to decode");
    // The size bound is checked on the header before the decoder allocates anything.
    std::int64_t hw = 0, hh = 0;
    if (detail::header_size(data, size, hw, hh) &&
        (hw > limits.max_side || hh > limits.max_side || hw * hh > limits.max_pixels))
        return Status::file_error(name, "image is " + std::to_string(hw) + "×" + std::to_string(hh) + ", over the limit of " +
                                  std::to_string(limits.max_pixels) + " pixels");
    // Inputs that stb_image itself would mishandle (see the helpers), checked before any stb call.
    std::vector<std::uint8_t> cleaned;
    std::string why;
    if (!detail::screen_jpeg(data, size, why)) return Status::file_error(name, why);
    if (!detail::screen_png(data, size, cleaned, why)) return Status::file_error(name, why);
    if (!cleaned.empty()) data = cleaned.data(), size = cleaned.size();
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, int(size), &w, &h, &comp))
        return Status::file_error(name, std::string("not a supported image (JPEG, PNG or BMP): ") + stbi_failure_reason());
    const bool is_bmp = size >= 2 && data[0] == 'B' && data[1] == 'M';
    if (is_bmp) h = h < 0 ? -h : h;  // a negative BMP height means rows top-down; stb_info passes it on as it is
    if (w <= 0 || h <= 0) return Status::file_error(name, "image has no pixels");
    if (w > limits.max_side || h > limits.max_side || std::int64_t(w) * h > limits.max_pixels)
        return Status::file_error(name, "image is " + std::to_string(w) + "×" + std::to_string(h) + ", over the limit of " +
                                  std::to_string(limits.max_pixels) + " pixels");
    // stb_image accepts a JPEG cut short and fills the missing part; a complete JPEG ends with EOI (FF D9).
    if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        std::size_t end = size;
        while (end > 2 && (data[end - 1] == 0x00 || data[end - 1] == 0x0A || data[end - 1] == 0x0D || data[end - 1] == 0x20)) --end;
        if (end < 4 || data[end - 2] != 0xFF || data[end - 1] != 0xD9) return Status::file_error(name, "truncated JPEG (no end-of-image marker)");
#ifndef FACEKIT_STB_EXTERNAL
        bool decoded = false;
        Status s = detail::decode_jpeg_like_libjpeg(data, size, name, out, decoded);
        if (!s || decoded) return s;
#endif
    }
    int got = 0;
    std::uint8_t* px = stbi_load_from_memory(data, int(size), &w, &h, &got, 3);
    if (!px) {
        // stb's zlib returns some failures without a reason, leaving the last one set (often its JPEG probe's)
        const bool is_png = size >= 8 && std::memcmp(data, "\x89PNG", 4) == 0;
        const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "";
        return Status::file_error(name, is_png && reason.find("PNG") == std::string::npos ? "corrupt PNG (bad compressed image data)"
                                                                               : "cannot decode image: " + reason);
    }
    out.width = w, out.height = h;
    out.pixels.assign(px, px + std::size_t(w) * h * 3);
    stbi_image_free(px);
    return {};
}

/// Loads a JPEG, PNG or BMP file into `out` without raising: a bad file is an error status naming it.
inline Status try_load_image(const std::string& path, Image& out, const ImageLimits& limits = {}, Exif exif = Exif::Apply) {
    std::vector<std::uint8_t> bytes;
    Status s = detail::try_read_file(path, limits.max_file_bytes, bytes);
    return s ? try_decode_image(bytes.data(), bytes.size(), path, out, limits, exif) : s;
}

/// Loads a JPEG, PNG or BMP file as RGB, a JPEG turned upright by its EXIF orientation unless `exif` is
/// Exif::Ignore. Raises FileError naming the file and the problem.
inline Image load_image(const std::string& path, const ImageLimits& limits = {}, Exif exif = Exif::Apply) {
    Image img;
    try_load_image(path, img, limits, exif).raise_if_error();
    return img;
}

/// Writes an RGB image as JPEG (baseline, `quality` 1–100; stb_image_write subsamples chroma below 90).
inline void save_jpeg(const Image& img, const std::string& path, int quality = 85) {
    if (img.empty()) FACEKIT_THROW(InvalidArgument("save_jpeg: empty image"));
    if (!stbi_write_jpg(path.c_str(), img.width, img.height, 3, img.pixels.data(), quality))
        FACEKIT_THROW(FileError(path, "cannot write JPEG"));
}

/// Writes an RGB image as PNG.
inline void save_png(const Image& img, const std::string& path) {
    if (img.empty()) FACEKIT_THROW(InvalidArgument("save_png: empty image"));
    if (!stbi_write_png(path.c_str(), img.width, img.height, 3, img.pixels.data(), img.width * 3))
        FACEKIT_THROW(FileError(path, "cannot write PNG"));
}

}  // namespace facekit
