// facekit/io/exif.hpp: a JPEG's EXIF orientation, and turning its pixels upright.
//
// Cameras and phones store the sensor's pixels as they come and record in EXIF tag 0x0112 how to turn
// them for display (1 upright, 2–8 the seven flips and quarter turns). A detector fed the stored pixels
// of a phone portrait sees the face lying on its side. facekit turns images upright as Pillow's
// ImageOps.exif_transpose does: the first APP1 "Exif" segment before the image data, IFD0's tag 0x0112,
// values outside 2–8 ignored. Everything is read bounds-checked: a malformed EXIF block means "upright".
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../engine/error.hpp"

namespace facekit {

/// Whether load_image() turns JPEGs upright by their EXIF orientation (the default) or keeps the stored pixels.
enum class Exif { Apply, Ignore };

namespace detail {

/// The EXIF orientation (1–8) of a JPEG held in memory; 1 when it has none, or when it is not a JPEG.
inline int jpeg_exif_orientation(const std::uint8_t* d, std::size_t n) {
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
    for (std::size_t i = 2; i + 4 <= n;) {
        if (d[i] != 0xFF) return 1;
        const std::uint8_t marker = d[i + 1];
        if (marker == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) return 1;  // image data begins: no EXIF before it
        const std::size_t len = std::size_t(d[i + 2]) << 8 | d[i + 3];
        if (len < 2 || len > n - i - 2) return 1;
        const std::uint8_t* body = d + i + 4;
        const std::size_t body_len = len - 2;
        if (marker == 0xE1 && body_len >= 6 && std::memcmp(body, "Exif\0\0", 6) == 0) {
            // TIFF: byte order, 42, offset of IFD0; IFD0: entry count, 12-byte entries (tag, type, count, value)
            const std::uint8_t* t = body + 6;
            const std::size_t tn = body_len - 6;
            if (tn < 8) return 1;
            const bool little = t[0] == 'I' && t[1] == 'I';
            if (!little && !(t[0] == 'M' && t[1] == 'M')) return 1;
            auto u16 = [&](std::size_t p) -> unsigned {
                return little ? unsigned(t[p]) | unsigned(t[p + 1]) << 8 : unsigned(t[p]) << 8 | unsigned(t[p + 1]);
            };
            auto u32 = [&](std::size_t p) -> std::uint32_t {
                return little ? std::uint32_t(u16(p)) | std::uint32_t(u16(p + 2)) << 16 : std::uint32_t(u16(p)) << 16 | u16(p + 2);
            };
            if (u16(2) != 42) return 1;
            const std::uint32_t ifd = u32(4);
            if (ifd > tn - 2) return 1;
            const unsigned entries = u16(ifd);
            for (unsigned e = 0; e < entries; ++e) {
                const std::size_t p = ifd + 2 + 12 * std::size_t(e);
                if (p + 12 > tn) return 1;
                if (u16(p) != 0x0112) continue;
                const unsigned type = u16(p + 2);
                const std::uint32_t value = type == 3 ? u16(p + 8) : type == 4 ? u32(p + 8) : 1;  // SHORT or LONG
                return value >= 1 && value <= 8 ? int(value) : 1;
            }
            return 1;  // Pillow reads the first Exif segment only
        }
        i += 2 + len;
    }
    return 1;
}

}  // namespace detail

/// The image displayed as EXIF `orientation` asks (Pillow's exif_transpose): 2 mirror, 3 half turn,
/// 4 flip, 5 transpose, 6 quarter turn clockwise, 7 transverse, 8 quarter turn counter-clockwise.
/// `Img` is facekit::Image (any type with width, height and at(x, y) of 3 bytes).
template <class Img>
Img upright(const Img& in, int orientation) {
    if (orientation < 2 || orientation > 8) return in;
    const int W = in.width, H = in.height;
    const bool swap = orientation >= 5;
    Img out(swap ? H : W, swap ? W : H);
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            int sx = x, sy = y;
            switch (orientation) {
                case 2: sx = W - 1 - x; break;
                case 3: sx = W - 1 - x, sy = H - 1 - y; break;
                case 4: sy = H - 1 - y; break;
                case 5: sx = y, sy = x; break;
                case 6: sx = y, sy = H - 1 - x; break;
                case 7: sx = W - 1 - y, sy = H - 1 - x; break;
                case 8: sx = W - 1 - y, sy = x; break;
            }
            const std::uint8_t* s = in.at(sx, sy);
            std::uint8_t* o = out.at(x, y);
            o[0] = s[0], o[1] = s[1], o[2] = s[2];
        }
    return out;
}

}  // namespace facekit
