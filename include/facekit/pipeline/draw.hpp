// facekit/pipeline/draw.hpp: boxes and landmarks drawn onto an image (for `facekit detect --draw`).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>

#include "detection.hpp"
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

}  // namespace facekit
