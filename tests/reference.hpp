// Helpers for comparing against ../shared/reference: NCHW tensors into NHWC, boxes, IoU.
#pragma once
#include <array>
#include <cmath>
#include <cstring>
#include <map>

#include "facekit/engine/json.hpp"
#include "facekit/engine/safetensors.hpp"
#include "facekit/engine/tensor.hpp"
#include "support.hpp"

namespace facekit::test {

/// An N×C×H×W F32 tensor of a reference file as an NHWC Tensor.
inline Tensor nhwc_from_nchw(const SafeTensors& st, const std::string& name) {
    const TensorInfo& t = st.at(name);
    REQUIRE(t.shape.size() == 4);
    const int n = int(t.shape[0]), c = int(t.shape[1]), h = int(t.shape[2]), w = int(t.shape[3]);
    std::vector<float> v = st.floats(name);
    Tensor out(Shape(n, h, w, c));
    for (int i = 0; i < n; ++i)
        for (int ch = 0; ch < c; ++ch)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    out[((std::size_t(i) * h + y) * w + x) * c + ch] = v[((std::size_t(i) * c + ch) * h + y) * w + x];
    return out;
}

inline float iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
    const float iw = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
    const float ih = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
    const float inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

inline Json load_json(const std::string& path) { return Json::parse(read_text(path)); }

/// The original JPEG (under ../shared/data) a reference photo's PNG was decoded from, from detections.json's
/// `_settings.sources` (README §5).
inline std::string original_jpeg(const Json& detections, const std::string& name) {
    const std::string src = detections.at("_settings").at("sources").at(name).at("source").string();
    const std::pair<const char*, const char*> homes[] = {{"images/facenet_pytorch_data/", "data/images/facenet-pytorch/"},
                                                         {"images/dlib_faces/", "data/images/dlib/"},
                                                         {"lfw/lfw-deepfunneled-crop150/", "data/lfw/images/"}};
    for (auto [from, to] : homes)
        if (src.rfind(from, 0) == 0) return shared(to + src.substr(std::strlen(from)));
    throw Error("unknown source " + src + " for " + name);
}

}  // namespace facekit::test
