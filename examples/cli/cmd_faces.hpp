// facekit detect | embed | compare (see ../shared/CLI.md).
#pragma once
#include <facekit/core/safetensors_writer.hpp>
#include <facekit/pipeline/detector.hpp>
#include <facekit/pipeline/draw.hpp>
#include <facekit/eval/thresholds.hpp>
#include <facekit/pipeline/embedder.hpp>

#include <iostream>
#include <sys/stat.h>

#include "common.hpp"

namespace cli {

using facekit::Detection;
using facekit::Image;

inline facekit::DetectorOptions detector_options(const Args& a) {
    facekit::DetectorOptions o;
    o.min_face = int(a.integer("min-face", 20, 1, 100000));
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
    o.factor = a.number("factor", 0.709, 1e-3, 0.999);
    return o;
}

/// Detector + embedder for commands that go from photos to embeddings.
struct FacePipeline {
    std::unique_ptr<facekit::ThreadPool> pool;
    std::unique_ptr<facekit::Detector<>> detector;
    std::unique_ptr<facekit::Embedder> embedder;

    FacePipeline(const Args& a, bool need_detector) : pool(make_pool(a)) {
        const std::string dir = models_dir(a);
        if (need_detector)
            detector = std::make_unique<facekit::Detector<>>(facekit::models::MtcnnNets<>::load(dir), detector_options(a), pool.get());
        embedder = facekit::load_embedder(model_name(a), dir, pool.get(), a.get("weights"));
        embedder->set_options({a.flag("flip"), 8});
    }
    /// The aligned crops of every face in `photo` (or only the largest); empty when none was found.
    std::vector<Image> crops(const Image& photo, bool largest, std::vector<Detection>* faces = nullptr) {
        std::vector<Detection> found = detector->detect(photo);
        if (largest && found.size() > 1) found.resize(1);
        std::vector<Image> out;
        for (const Detection& d : found) out.push_back(embedder->align(photo, d));
        if (faces) *faces = found;
        return out;
    }
};

inline int cmd_detect(const std::vector<std::string>& argv) {
    Args a(argv, {"models", "threads", "min-face", "thresholds", "factor", "draw"}, {});
    if (a.positional().empty()) throw UsageError("detect needs at least one IMAGE");
    auto pool = make_pool(a);
    facekit::Detector<> det(facekit::models::MtcnnNets<>::load(models_dir(a)), detector_options(a), pool.get());
    const std::string draw = draw_dir(a);
    std::string out = "[";
    for (std::size_t i = 0; i < a.positional().size(); ++i) {
        const std::string& path = a.positional()[i];
        Image img = facekit::load_image(path);
        auto faces = det.detect(img);
        out += (i ? ",\n " : "") + std::string("{\"image\": ") + str(path) + ", \"width\": " + std::to_string(img.width) +
               ", \"height\": " + std::to_string(img.height) + ", \"faces\": [";
        for (std::size_t k = 0; k < faces.size(); ++k) out += (k ? ",\n    " : "\n    ") + face_json(faces[k]);
        out += "]}";
        if (!draw.empty()) {
            for (const Detection& d : faces) facekit::draw_detection(img, d);
            facekit::save_png(img, draw + "/" + stem(path) + ".png");
        }
    }
    std::cout << out << "]\n";
    return 0;
}

inline int cmd_embed(const std::vector<std::string>& argv) {
    Args a(argv, {"models", "threads", "model", "weights", "out", "min-face", "thresholds", "factor"},
           {"aligned", "largest", "flip"});
    if (a.positional().empty()) throw UsageError("embed needs at least one IMAGE");
    FacePipeline p(a, !a.flag("aligned"));
    std::vector<std::pair<std::string, int>> rows;
    std::vector<float> matrix;
    const int dim = p.embedder->dim();
    // Aligned crops are embedded in batches of kBatch across images (the engine is faster per face on a
    // batch); detected faces, image by image.
    constexpr std::size_t kBatch = 8;
    std::vector<Image> pending;
    std::vector<std::pair<std::string, int>> pending_rows;
    auto flush = [&] {
        if (pending.empty()) return;
        auto embeddings = p.embedder->embed(pending);
        for (std::size_t f = 0; f < embeddings.size(); ++f) {
            rows.push_back(pending_rows[f]);
            matrix.insert(matrix.end(), embeddings[f].begin(), embeddings[f].end());
            if (!a.has("out")) {
                std::string line = "{\"image\": " + str(pending_rows[f].first) + ", \"face\": " +
                                   std::to_string(pending_rows[f].second) + ", \"embedding\": [";
                for (int d = 0; d < dim; ++d) line += (d ? "," : "") + num(embeddings[f][std::size_t(d)]);
                std::cout << line << "]}\n";
            }
        }
        pending.clear();
        pending_rows.clear();
    };
    for (const std::string& path : a.positional()) {
        Image img = facekit::load_image(path);
        if (a.flag("aligned")) {
            if (img.width != p.embedder->input_size() || img.height != p.embedder->input_size())
                throw facekit::FileError(path, "is " + std::to_string(img.width) + "×" + std::to_string(img.height) +
                                                   ", not an aligned " + std::to_string(p.embedder->input_size()) + "² crop");
            pending.push_back(std::move(img));
            pending_rows.emplace_back(path, 0);
            if (pending.size() == kBatch) flush();
            continue;
        }
        std::vector<Image> crops = p.crops(img, a.flag("largest"));
        for (std::size_t f = 0; f < crops.size(); ++f) pending_rows.emplace_back(path, int(f));
        pending = std::move(crops);
        flush();
    }
    flush();
    if (a.has("out")) {
        std::string rows_json = "[";
        for (std::size_t i = 0; i < rows.size(); ++i)
            rows_json += (i ? "," : "") + std::string("[") + str(rows[i].first) + "," + std::to_string(rows[i].second) + "]";
        rows_json += "]";
        facekit::write_safetensors(a.get("out"), {{"embeddings", {std::int64_t(rows.size()), dim}, matrix.data()}},
                                   {{"model", p.embedder->name()}, {"rows", rows_json}});
    }
    return 0;
}

inline int cmd_compare(const std::vector<std::string>& argv) {
    Args a(argv, {"models", "threads", "model", "weights", "threshold", "min-face", "thresholds", "factor"}, {"flip"});
    if (a.positional().size() != 2) throw UsageError("compare needs exactly two images: IMAGE_A IMAGE_B");
    FacePipeline p(a, true);
    const double threshold = a.number("threshold", facekit::eval::default_thresholds(model_name(a)).verify, 0, 4);
    facekit::Embedding e[2];
    for (int i = 0; i < 2; ++i) {
        const std::string& path = a.positional()[std::size_t(i)];
        auto crops = p.crops(facekit::load_image(path), true);
        if (crops.empty()) throw facekit::FileError(path, "no face found");
        e[i] = p.embedder->embed(crops[0]);
    }
    const double d = facekit::squared_distance(e[0], e[1]);
    std::cout << "{\"distance\": " << num(d) << ", \"threshold\": " << num(threshold)
              << ", \"same\": " << (d <= threshold ? "true" : "false") << "}\n";
    return 0;
}

}  // namespace cli
