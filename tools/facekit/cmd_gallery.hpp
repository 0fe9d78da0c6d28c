// facekit gallery enroll | identify | list | remove (see ../shared/CLI.md).
#pragma once
#include <facekit/identify/gallery_io.hpp>

#include "pipeline.hpp"

namespace cli {

inline const Option kGalleryOption = {"gallery", "FILE", "", "the gallery file (required)"};

inline const Command kGalleryEnroll = {
    "gallery enroll", "--gallery FILE [OPTIONS] (NAME IMAGE... | --from-dir DB/)", "add people to a gallery (NAME IMAGE..., or --from-dir)",
    "Adds the largest face of each image under NAME, or every subfolder of DB as one person named after it\n"
    "(the layout of face_recognition and deepface). Creates FILE, recording the model, if it does not exist;\n"
    "an existing gallery's model is used. Prints a JSON summary of what was enrolled and what was skipped.",
    options({{kGalleryOption,
              {"from-dir", "DB", "", "enrol every subfolder of DB (its images, recursively) under the folder's name"},
              {"int8", "", "", "store a new gallery's embeddings as int8 (a quarter of the memory)"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"}},
             kModelOptions, kDetectorOptions, kImageOptions}),
    "An image that cannot be read, or has no face, is skipped with a warning; the others are enrolled and the\n"
    "exit status is 1. The gallery is saved once, at the end."};

inline const Command kGalleryIdentify = {
    "gallery identify", "--gallery FILE [OPTIONS] IMAGE...", "name the faces of images against a gallery",
    "Identifies every face of each image: the k nearest enrolled embeddings within the threshold vote, the\n"
    "identity with most votes wins (ties: the nearest); \"name\" is null when no neighbour is within the\n"
    "threshold. \"candidates\" lists the nearest identities whatever their distance.",
    options({{kGalleryOption, {"k", "K", "5", "neighbours that may vote"},
              {"threshold", "T", "0.94 for mobilefacenet, 1.0 for facenet", "largest distance at which a neighbour votes"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"},
              {"models", "DIR", kModelsDefault, "directory of converted weights"},
              {"weights", "FILE", "", "embedder weights file (the gallery's model), instead of the models directory's"},
              {"allow-synthetic", "", "", "accept weights marked as a synthetic test checkpoint (tests only)"},
              {"threads", "N", "all cores", "worker threads"}},
             kDetectorOptions, kDrawOptions, kImageOptions}),
    kManyImagesNote};

inline const Command kGalleryList = {"gallery list", "--gallery FILE", "the identities of a gallery",
                                     "Prints the gallery's model, dimension and identities with their embedding counts.",
                                     {kGalleryOption}, ""};
inline const Command kGalleryRemove = {"gallery remove", "--gallery FILE NAME", "remove an identity from a gallery",
                                       "Removes the identity NAME and all its embeddings.", {kGalleryOption}, ""};

namespace detail {
inline bool file_exists(const std::string& p) {
    struct stat sb {};
    return ::stat(p.c_str(), &sb) == 0;
}
inline std::string require_gallery(const Args& a) {
    if (!a.has("gallery")) throw UsageError(a.command().name + " needs --gallery FILE");
    return a.get("gallery");
}
}  // namespace detail

inline int cmd_gallery_list(const Args& a) {
    if (!a.positional().empty()) throw UsageError("gallery list takes no positional arguments");
    facekit::Gallery g = facekit::load_gallery(detail::require_gallery(a));
    std::string out = "{\"model\": " + str(g.model()) + ", \"dim\": " + std::to_string(g.dim()) + ", \"identities\": [";
    auto ids = g.list();
    for (std::size_t i = 0; i < ids.size(); ++i)
        out += (i ? ", " : "") + std::string("{\"name\": ") + str(ids[i].first) + ", \"count\": " + std::to_string(ids[i].second) + "}";
    std::cout << out << "]}\n";
    return 0;
}

inline int cmd_gallery_remove(const Args& a) {
    const std::string file = detail::require_gallery(a);
    if (a.positional().size() != 1) throw UsageError("gallery remove needs exactly one NAME");
    facekit::load_gallery(file);  // a missing or damaged gallery: its error, before any lock file is made
    facekit::update_gallery(file, [&]() -> facekit::Gallery { throw facekit::FileError(file, "does not exist"); },
                            [&](facekit::Gallery& g) {
                                if (!g.remove(a.positional()[0]))
                                    throw facekit::FileError(file, "has no identity named \"" + one_line(a.positional()[0]) + "\"");
                            });
    return 0;
}

inline int cmd_gallery_enroll(const Args& a) {
    const std::string file = detail::require_gallery(a);
    // (person, image) pairs to enrol
    std::vector<std::pair<std::string, std::string>> todo;
    if (a.has("from-dir")) {
        if (!a.positional().empty()) throw UsageError("gallery enroll takes either NAME IMAGE... or --from-dir DB, not both");
        const std::string db = a.get("from-dir");
        std::error_code ec;
        if (!std::filesystem::is_directory(db, ec)) throw facekit::FileError(db, "is not a folder");
        std::vector<std::string> people;
        for (auto it = std::filesystem::directory_iterator(db, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
            if (it->is_directory(ec)) people.push_back(it->path().filename().string());
        if (ec) throw facekit::FileError(db, "cannot list: " + ec.message());
        std::sort(people.begin(), people.end());
        for (const std::string& person : people)
            for (const std::string& img : images_in(db + "/" + person)) todo.emplace_back(person, img);
        if (todo.empty()) throw facekit::FileError(db, "has no subfolder with images (expected DB/<name>/<photos>)");
    } else {
        if (a.positional().size() < 2) throw UsageError("gallery enroll needs NAME IMAGE... (or --from-dir DB)");
        for (const std::string& img : expand_images({a.positional().begin() + 1, a.positional().end()}))
            todo.emplace_back(a.positional()[0], img);
    }
    // The model: an existing gallery's. The faces are embedded first; the gallery is then read, changed
    // and saved under its lock, so that concurrent enrolls into one gallery all land.
    std::string model = model_name(a);
    if (detail::file_exists(file)) {
        const facekit::Gallery existing = facekit::load_gallery(file);
        if (a.has("model") && a.get("model") != existing.model())
            throw facekit::FileError(file, "holds " + existing.model() + " embeddings, not " + a.get("model"));
        model = existing.model();
    }
    FacePipeline p(a, model, true);
    Failures failures;
    Progress progress("enroll", todo.size(), &failures);
    std::vector<std::pair<std::string, facekit::Embedding>> faces;
    std::map<std::string, int> enrolled;  // person → images enrolled
    std::vector<std::string> order;       // persons in enrolment order
    std::string skipped;
    for (const auto& [person, path] : todo) {
        try {
            auto crops = p.crops(load(a, path), true);
            if (crops.empty()) throw facekit::FileError(path, "no face found");
            faces.emplace_back(person, p.embedder->embed(crops[0]));
            if (enrolled[person]++ == 0) order.push_back(person);
        } catch (const std::exception& e) {
            const std::string message = failures.report(path, e);
            skipped += (skipped.empty() ? "" : ", ") + std::string("{\"name\": ") + str(person) + ", \"image\": " + str(path) +
                       ", \"error\": " + str(message) + "}";
        }
        progress.tick();
    }
    const auto store = a.flag("int8") ? facekit::Gallery::Store::Int8 : facekit::Gallery::Store::Float;
    auto make_new = [&] { return facekit::Gallery(p.embedder->name(), p.embedder->dim(), store); };
    auto add = [&](facekit::Gallery& g) {
        if (g.model() != p.embedder->name()) throw facekit::FileError(file, "now holds " + g.model() + " embeddings");
        for (auto& [person, e] : faces) g.enroll(person, e);
    };
    const facekit::Gallery saved = faces.empty() ? (detail::file_exists(file) ? facekit::load_gallery(file) : make_new())
                                                 : facekit::update_gallery(file, make_new, add);
    const facekit::Gallery* g = &saved;
    std::string list;
    int images = 0;
    for (const std::string& person : order) {
        list += (list.empty() ? "" : ", ") + std::string("{\"name\": ") + str(person) + ", \"images\": " + std::to_string(enrolled[person]) + "}";
        images += enrolled[person];
    }
    std::cout << "{\"gallery\": " << str(file) << ", \"model\": " << str(g->model()) << ", \"enrolled\": [" << list
              << "], \"skipped\": [" << skipped << "], \"identities\": " << g->identities() << ", \"embeddings\": " << g->size() << "}\n";
    std::fprintf(stderr, "facekit: enrolled %d image%s of %zu %s, skipped %d; %s now holds %zu %s, %zu embedding%s\n",
                 images, images == 1 ? "" : "s", order.size(), order.size() == 1 ? "person" : "people", failures.count(),
                 one_line(file).c_str(), g->identities(), g->identities() == 1 ? "identity" : "identities", g->size(),
                 g->size() == 1 ? "" : "s");
    return failures.exit_status();
}

inline int cmd_gallery_identify(const Args& a) {
    const std::string file = detail::require_gallery(a);
    if (a.positional().empty()) throw UsageError("gallery identify needs at least one IMAGE");
    facekit::Gallery g = facekit::load_gallery(file);
    if (g.model() != "facenet" && g.model() != "mobilefacenet")
        throw facekit::FileError(file, "records the model \"" + one_line(g.model()) + "\", which this build does not know");
    FacePipeline p(a, g.model(), true);
    if (p.embedder->dim() != g.dim()) throw facekit::FileError(file, "dimension does not match the model");
    const int k = int(a.integer("k", 1, 1000));
    const float threshold = float(a.number("threshold", facekit::eval::default_thresholds(g.model()).identify, 0, 4));
    Drawings drawings(a);
    return print_entry_per_image(a, "identify", [&](const std::string& path) {
        Image img = load(a, path);
        std::vector<Detection> faces;
        auto crops = p.crops(img, false, &faces);
        auto embeddings = p.embedder->embed(crops);
        std::string entry = "{\"image\": " + str(path) + ", \"faces\": [";
        for (std::size_t f = 0; f < faces.size(); ++f) {
            auto r = g.search(embeddings[f], k, threshold, p.pool.get());
            entry += (f ? ",\n    " : "\n    ") + std::string("{\"box\": ") + box_json(faces[f].box) +
                     ", \"name\": " + (r.name ? str(*r.name) : "null") + ", \"distance\": " + num(r.distance) + ", \"candidates\": [";
            for (std::size_t c = 0; c < r.candidates.size(); ++c)
                entry += (c ? ", " : "") + std::string("{\"name\": ") + str(r.candidates[c].name) +
                         ", \"distance\": " + num(r.candidates[c].distance) + "}";
            entry += "]}";
            if (drawings.enabled())
                facekit::draw_labelled_detection(img, faces[f], (r.name ? *r.name : "unknown") + " " + num_fixed(r.distance, 2),
                                                 r.name ? facekit::Rgb{0, 170, 0} : facekit::Rgb{220, 30, 30});
        }
        if (drawings.enabled()) drawings.save(img, path);
        return entry + "]}";
    });
}

}  // namespace cli
