// facekit gallery enroll | identify | list | remove (see ../shared/CLI.md).
#pragma once
#include <facekit/gallery/gallery_io.hpp>

#include "cmd_faces.hpp"

namespace cli {

inline bool file_exists(const std::string& p) {
    struct stat sb {};
    return ::stat(p.c_str(), &sb) == 0;
}

inline int cmd_gallery(const std::vector<std::string>& argv_in) {
    if (argv_in.empty()) throw UsageError("gallery needs a subcommand: enroll, identify, list or remove");
    const std::string sub = argv_in[0];
    const std::vector<std::string> argv(argv_in.begin() + 1, argv_in.end());
    if (sub == "list") {
        Args a(argv, {"gallery"}, {});
        if (!a.has("gallery") || !a.positional().empty()) throw UsageError("gallery list --gallery FILE");
        facekit::Gallery g = facekit::load_gallery(a.get("gallery"));
        std::string out = "{\"model\": " + str(g.model()) + ", \"dim\": " + std::to_string(g.dim()) + ", \"identities\": [";
        auto ids = g.list();
        for (std::size_t i = 0; i < ids.size(); ++i)
            out += (i ? ", " : "") + std::string("{\"name\": ") + str(ids[i].first) + ", \"count\": " + std::to_string(ids[i].second) + "}";
        std::cout << out << "]}\n";
        return 0;
    }
    if (sub == "remove") {
        Args a(argv, {"gallery"}, {});
        if (!a.has("gallery") || a.positional().size() != 1) throw UsageError("gallery remove --gallery FILE NAME");
        facekit::Gallery g = facekit::load_gallery(a.get("gallery"));
        if (!g.remove(a.positional()[0]))
            throw facekit::FileError(a.get("gallery"), "has no identity named \"" + a.positional()[0] + "\"");
        facekit::save_gallery(g, a.get("gallery"));
        return 0;
    }
    if (sub == "enroll") {
        Args a(argv, {"gallery", "models", "threads", "model", "weights", "min-face", "thresholds", "factor"}, {"int8", "flip"});
        if (!a.has("gallery") || a.positional().size() < 2) throw UsageError("gallery enroll --gallery FILE NAME IMAGE...");
        const std::string file = a.get("gallery");
        std::unique_ptr<facekit::Gallery> g;
        std::vector<std::string> args = argv;
        if (file_exists(file)) {
            g = std::make_unique<facekit::Gallery>(facekit::load_gallery(file));
            if (a.has("model") && a.get("model") != g->model())
                throw facekit::FileError(file, "holds " + g->model() + " embeddings, not " + a.get("model"));
            args.push_back("--model=" + g->model());
        }
        Args b(args, {"gallery", "models", "threads", "model", "weights", "min-face", "thresholds", "factor"}, {"int8", "flip"});
        FacePipeline p(b, true);
        if (!g)
            g = std::make_unique<facekit::Gallery>(p.embedder->name(), p.embedder->dim(),
                                                   a.flag("int8") ? facekit::Gallery::Store::Int8 : facekit::Gallery::Store::Float);
        const std::string& name = a.positional()[0];
        for (std::size_t i = 1; i < a.positional().size(); ++i) {
            const std::string& path = a.positional()[i];
            auto crops = p.crops(facekit::load_image(path), true);
            if (crops.empty()) throw facekit::FileError(path, "no face found");
            g->enroll(name, p.embedder->embed(crops[0]));
        }
        facekit::save_gallery(*g, file);
        return 0;
    }
    if (sub == "identify") {
        Args a(argv, {"gallery", "models", "threads", "weights", "k", "threshold", "draw", "min-face", "thresholds", "factor"},
               {"flip"});
        if (!a.has("gallery") || a.positional().empty()) throw UsageError("gallery identify --gallery FILE IMAGE...");
        facekit::Gallery g = facekit::load_gallery(a.get("gallery"));
        std::vector<std::string> args = argv;
        args.push_back("--model=" + g.model());
        Args b(args, {"gallery", "models", "threads", "model", "weights", "k", "threshold", "draw", "min-face", "thresholds", "factor"},
               {"flip"});
        FacePipeline p(b, true);
        if (p.embedder->dim() != g.dim()) throw facekit::FileError(a.get("gallery"), "dimension does not match the model");
        const int k = int(a.integer("k", 5, 1, 1000));
        const float threshold = float(a.number("threshold", facekit::eval::default_thresholds(g.model()).identify, 0, 4));
        const std::string draw = draw_dir(a);
        std::string out = "[";
        for (std::size_t i = 0; i < a.positional().size(); ++i) {
            const std::string& path = a.positional()[i];
            Image img = facekit::load_image(path);
            std::vector<Detection> faces;
            auto crops = p.crops(img, false, &faces);
            auto embeddings = p.embedder->embed(crops);
            out += (i ? ",\n " : "") + std::string("{\"image\": ") + str(path) + ", \"faces\": [";
            for (std::size_t f = 0; f < faces.size(); ++f) {
                auto r = g.search(embeddings[f], k, threshold, p.pool.get());
                out += (f ? ",\n    " : "\n    ") + std::string("{\"box\": ") + box_json(faces[f].box) +
                       ", \"name\": " + (r.name ? str(*r.name) : "null") + ", \"distance\": " + num(r.distance) + ", \"candidates\": [";
                for (std::size_t c = 0; c < r.candidates.size(); ++c)
                    out += (c ? ", " : "") + std::string("{\"name\": ") + str(r.candidates[c].name) +
                           ", \"distance\": " + num(r.candidates[c].distance) + "}";
                out += "]}";
                if (!draw.empty())
                    facekit::draw_detection(img, faces[f], r.name ? facekit::Rgb{0, 220, 0} : facekit::Rgb{230, 40, 40});
            }
            out += "]}";
            if (!draw.empty()) facekit::save_png(img, draw + "/" + stem(path) + ".png");
        }
        std::cout << out << "]\n";
        return 0;
    }
    throw UsageError("unknown gallery subcommand \"" + sub + "\" (enroll, identify, list, remove)");
}

}  // namespace cli
