// Shared pieces of the facekit commands: models directory, thread pool, JSON output helpers.
#pragma once
#include <facekit/core/error.hpp>
#include <facekit/core/json.hpp>
#include <facekit/core/thread_pool.hpp>
#include <facekit/pipeline/detection.hpp>

#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <memory>
#include <string>

#include "args.hpp"

#ifndef FACEKIT_DEFAULT_MODELS_DIR
#define FACEKIT_DEFAULT_MODELS_DIR "models"
#endif

namespace cli {

/// Options every command accepts.
inline const std::set<std::string> kCommonOptions = {"models", "threads", "model", "weights"};

/// --models, else $FACEKIT_MODELS, else the directory the set-up command prepared.
inline std::string models_dir(const Args& a) {
    if (a.has("models")) return a.get("models");
    const char* env = std::getenv("FACEKIT_MODELS");
    return env && *env ? env : FACEKIT_DEFAULT_MODELS_DIR;
}
inline std::string model_name(const Args& a) {
    std::string m = a.get("model", "mobilefacenet");
    if (m != "facenet" && m != "mobilefacenet") throw UsageError("--model must be facenet or mobilefacenet");
    return m;
}
inline std::unique_ptr<facekit::ThreadPool> make_pool(const Args& a) {
    return std::make_unique<facekit::ThreadPool>(int(a.integer("threads", 0, 1, 256)));
}

inline std::string num(double v) {
    std::string s;
    facekit::json::write_number(s, v);
    return s;
}
inline std::string str(const std::string& v) {
    std::string s;
    facekit::json::write_string(s, v);
    return s;
}
inline std::string box_json(const std::array<float, 4>& b) {
    return "[" + num(b[0]) + ", " + num(b[1]) + ", " + num(b[2]) + ", " + num(b[3]) + "]";
}
inline std::string face_json(const facekit::Detection& d) {
    std::string s = "{\"box\": " + box_json(d.box) + ", \"score\": " + num(d.score) + ", \"landmarks\": [";
    for (std::size_t k = 0; k < d.landmarks.size(); ++k)
        s += (k ? ", [" : "[") + num(d.landmarks[k].x) + ", " + num(d.landmarks[k].y) + "]";
    return s + "]}";
}
/// The --draw directory, created if needed ("" when the option is absent).
inline std::string draw_dir(const Args& a) {
    const std::string d = a.get("draw");
    if (!d.empty() && ::mkdir(d.c_str(), 0777) != 0 && errno != EEXIST)
        throw facekit::FileError(d, std::string("cannot create directory: ") + std::strerror(errno));
    return d;
}

/// The file name without directory and extension.
inline std::string stem(const std::string& path) {
    std::string s = path.substr(path.find_last_of('/') + 1);
    const auto dot = s.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? s : s.substr(0, dot);
}

}  // namespace cli
