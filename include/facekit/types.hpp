// facekit/types.hpp: a detected face, the value passed from the detector to the aligner.
#pragma once
#include <array>

namespace facekit {

struct Point {
    float x = 0, y = 0;
};

/// A face as facenet-pytorch's MTCNN reports it: box [x1, y1, x2, y2] in pixels (not clipped: it may
/// extend past the image), the O-Net face probability, and 5 landmarks: left eye, right eye, nose, left
/// and right mouth corners (left/right as seen in the image).
struct Detection {
    std::array<float, 4> box{};
    float score = 0;
    std::array<Point, 5> landmarks{};

    float width() const noexcept { return box[2] - box[0]; }
    float height() const noexcept { return box[3] - box[1]; }
    float area() const noexcept { return width() * height(); }
};

}  // namespace facekit
