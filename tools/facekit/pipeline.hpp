// The detector and embedder options and set-up the face commands share (detect, embed, compare,
// gallery, lfw, cluster).
#pragma once
#include <facekit/engine/safetensors_writer.hpp>
#include <facekit/eval/thresholds.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <iostream>

#include "common.hpp"

namespace cli {

using facekit::Detection;
using facekit::Image;

inline facekit::DetectorOptions detector_options(const Args& a) {
    facekit::DetectorOptions o;
    o.min_face = int(a.integer("min-face", 1, 100000));
    if (a.has("thresholds")) {
        std::string t = a.get("thresholds");
        std::size_t start = 0;
        for (int i = 0; i < 3; ++i) {
            const std::size_t comma = t.find(',', start);
            if ((i < 2) != (comma != std::string::npos)) throw UsageError("--thresholds needs three numbers: P,R,O");
            o.thresholds[std::size_t(i)] = float(Args::parse_number("--thresholds", t.substr(start, comma - start), 0, 1));
            start = comma + 1;
        }
    }
    o.factor = a.number("factor", 1e-3, 0.999);
    o.max_pyramid_pixels = a.integer("max-pyramid-pixels", 1, std::numeric_limits<long>::max());
    return o;
}

/// Detector + embedder for commands that go from photos to embeddings.
struct FacePipeline {
    std::unique_ptr<facekit::ThreadPool> pool;
    std::unique_ptr<facekit::Detector<>> detector;
    std::unique_ptr<facekit::Embedder> embedder;

    /// The embedder `model` (commands working on a gallery take the gallery's), with its detector unless
    /// the inputs are aligned crops already.
    FacePipeline(const Args& a, const std::string& model, bool need_detector) : pool(make_pool(a)) {
        const std::string dir = models_dir(a);
        if (need_detector)
            detector = std::make_unique<facekit::Detector<>>(facekit::models::MtcnnNets<>::load(dir), detector_options(a), pool.get());
        embedder = facekit::load_embedder(model, dir, pool.get(), a.get("weights"),
                                          a.flag("allow-synthetic") ? facekit::SyntheticWeights::Allow
                                                                    : facekit::SyntheticWeights::Refuse);
        embedder->set_options({a.declares("flip") && a.flag("flip"), 8});
    }
    FacePipeline(const Args& a, bool need_detector) : FacePipeline(a, model_name(a), need_detector) {}

    /// Every face in `photo` (or only the largest), in detect's order, with its aligned crop.
    std::vector<Image> crops(const Image& photo, bool largest, std::vector<Detection>* faces = nullptr) {
        std::vector<Detection> found = detector->detect(photo);
        if (largest && found.size() > 1) found.resize(1);
        std::vector<Image> out;
        for (const Detection& d : found) out.push_back(embedder->align(photo, d));
        if (faces) *faces = found;
        return out;
    }
};

}  // namespace cli
