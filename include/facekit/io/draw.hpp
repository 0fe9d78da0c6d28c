// facekit/io/draw.hpp: boxes, landmarks and labels drawn onto an image (`facekit detect --draw`,
// `facekit gallery identify --draw`). Labels use the bitmap font of font.hpp, scaled with the photo so that
// they stay legible from a 150-pixel LFW crop to a 12-megapixel phone photo.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "../types.hpp"
#include "font.hpp"
#include "image.hpp"

namespace facekit {

using Rgb = std::array<std::uint8_t, 3>;

inline void fill_rect(Image& img, int x0, int y0, int x1, int y1, Rgb c) {
    x0 = std::max(x0, 0), y0 = std::max(y0, 0), x1 = std::min(x1, img.width), y1 = std::min(y1, img.height);
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) std::copy(c.begin(), c.end(), img.at(x, y));
}

/// A rectangle outline `thickness` pixels wide (clipped to the image).
inline void draw_box(Image& img, const std::array<float, 4>& box, Rgb c, int thickness = 2) {
    auto clampi = [](float v) { return int(std::max(-1e6f, std::min(v, 1e6f))); };
    const int x0 = clampi(std::round(box[0])), y0 = clampi(std::round(box[1]));
    const int x1 = clampi(std::round(box[2])), y1 = clampi(std::round(box[3]));
    fill_rect(img, x0, y0, x1 + 1, y0 + thickness, c);
    fill_rect(img, x0, y1 - thickness + 1, x1 + 1, y1 + 1, c);
    fill_rect(img, x0, y0, x0 + thickness, y1 + 1, c);
    fill_rect(img, x1 - thickness + 1, y0, x1 + 1, y1 + 1, c);
}

/// A detection: its box and its five landmarks as small squares.
inline void draw_detection(Image& img, const Detection& d, Rgb box_color = {0, 255, 0}, Rgb point_color = {0, 200, 255}) {
    const int t = std::max(1, int(std::min(d.width(), d.height()) / 60.0f) + 1);
    draw_box(img, d.box, box_color, t);
    for (const Point& p : d.landmarks) {
        if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
        const int x = int(std::round(p.x)), y = int(std::round(p.y));
        fill_rect(img, x - t, y - t, x + t + 1, y + t + 1, point_color);
    }
}

/// The integer magnification of the label font for a photo: 1 up to about 900 pixels on the short side,
/// then one more step per 600 pixels (a 4000×3000 photo: 5, glyphs 45×90 pixels).
inline int label_scale(const Image& img) { return std::max(1, int(std::lround(std::min(img.width, img.height) / 600.0))); }

/// `text` in the label font at (x, y) (its top left corner) on a filled background, clipped to the image.
/// Bytes outside printable ASCII show as '?', one per UTF-8 character. Returns the label's width.
inline int draw_label(Image& img, int x, int y, const std::string& text, Rgb fg, Rgb bg, int scale = 1) {
    using detail::kFontHeight;
    using detail::kFontWidth;
    std::string shown;
    for (unsigned char c : text) {
        if (c >= 0x80 && c < 0xC0) continue;  // UTF-8 continuation byte
        shown += c >= 32 && c < 127 ? char(c) : '?';
    }
    const int pad = scale * 2, w = int(shown.size()) * kFontWidth * scale + 2 * pad, h = kFontHeight * scale;
    fill_rect(img, x, y, x + w, y + h, bg);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        const std::uint16_t* glyph = &detail::kFontRows[std::size_t(shown[i] - 32) * kFontHeight];
        const int gx = x + pad + int(i) * kFontWidth * scale;
        for (int r = 0; r < kFontHeight; ++r)
            for (int c = 0; c < kFontWidth; ++c)
                if (glyph[r] >> c & 1) fill_rect(img, gx + c * scale, y + r * scale, gx + (c + 1) * scale, y + (r + 1) * scale, fg);
    }
    return w;
}

/// A detection with a label (a name and distance, or a score) in the box's colour above its top edge, or
/// inside it when the box touches the top of the photo.
inline void draw_labelled_detection(Image& img, const Detection& d, const std::string& label, Rgb color) {
    draw_detection(img, d, color);
    const int scale = label_scale(img), h = detail::kFontHeight * scale;
    const int x = int(std::lround(std::max(0.0f, std::min(d.box[0], float(img.width - 1)))));
    const int top = int(std::lround(std::max(-1e6f, std::min(d.box[1], 1e6f))));
    const int y = top - h >= 0 ? top - h : std::max(0, top);
    const bool dark = int(color[0]) * 299 + int(color[1]) * 587 + int(color[2]) * 114 < 128000;
    draw_label(img, x, y, label, dark ? Rgb{255, 255, 255} : Rgb{0, 0, 0}, color, scale);
}

}  // namespace facekit
