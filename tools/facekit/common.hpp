// Shared pieces of the facekit commands: the option groups several commands take, the models directory
// and thread pool, JSON helpers, and what every command over many images does alike: folders expanded,
// progress on stderr, one failed image reported and the rest processed, drawings written.
#pragma once
#include <facekit/engine/error.hpp>
#include <facekit/engine/json.hpp>
#include <facekit/engine/thread_pool.hpp>
#include <facekit/types.hpp>
#include <facekit/io/draw.hpp>
#include <facekit/io/image.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "args.hpp"

#ifndef FACEKIT_DEFAULT_MODELS_DIR
#define FACEKIT_DEFAULT_MODELS_DIR "models"
#endif

namespace cli {

// ---- option groups ------------------------------------------------------------------------------
inline const char* const kModelsDefault = "$FACEKIT_MODELS, else an installed copy's, else " FACEKIT_DEFAULT_MODELS_DIR;
inline const std::vector<Option> kModelOptions = {
    {"models", "DIR", kModelsDefault, "directory of converted weights"},
    {"model", "M", "mobilefacenet", "embedder: facenet or mobilefacenet"},
    {"weights", "FILE", "", "embedder weights file, instead of the models directory's"},
    {"allow-synthetic", "", "", "accept weights marked as a synthetic test checkpoint (tests only)"},
    {"threads", "N", "all cores", "worker threads"},
};
inline const std::vector<Option> kDetectorOptions = {
    {"min-face", "N", "20", "smallest face to look for, in pixels"},
    {"thresholds", "P,R,O", "0.6,0.7,0.7", "score thresholds of MTCNN's three stages"},
    {"factor", "F", "0.709", "scale step of the image pyramid"},
    {"max-pyramid-pixels", "N", "120000000", "refuse an image whose pyramid would hold more pixels (about 6 bytes each)"},
};
inline const std::vector<Option> kImageOptions = {
    {"no-exif", "", "", "read JPEGs' stored pixels, without turning them upright by their EXIF orientation"},
    {"max-pixels", "N", "100000000", "refuse images with more pixels, from their header, before decoding"},
};
inline const std::vector<Option> kDrawOptions = {
    {"draw", "DIR", "", "write each image with its faces drawn and labelled into DIR"},
    {"draw-format", "F", "jpg", "format of the drawn images: jpg or png"},
};
inline const std::string kManyImagesNote =
    "An IMAGE that is a folder means its images (.jpg .jpeg .png .bmp), recursively, in sorted order.\n"
    "An image that cannot be read is reported (an \"error\" entry, a warning on stderr) and the others go on;\n"
    "the exit status is then 1. Progress goes to stderr.";

// ---- models and threads -------------------------------------------------------------------------
/// --models, else $FACEKIT_MODELS, else, for an installed tool, <prefix>/share/facekit/models beside it,
/// else the directory the set-up command prepared.
inline std::string models_dir(const Args& a) {
    if (a.has("models")) return a.get("models");
    const char* env = std::getenv("FACEKIT_MODELS");
    if (env && *env) return env;
#if defined(FACEKIT_INSTALLED_MODELS_DIR) && defined(FACEKIT_INSTALL_BINDIR)
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec && exe.parent_path().filename() == std::filesystem::path(FACEKIT_INSTALL_BINDIR).filename()) {
        const auto installed = exe.parent_path().parent_path() / FACEKIT_INSTALLED_MODELS_DIR;
        if (std::filesystem::exists(installed / "pnet.safetensors", ec)) return installed.string();
    }
#endif
    return FACEKIT_DEFAULT_MODELS_DIR;
}
inline std::string model_name(const Args& a) { return a.choice("model", {"facenet", "mobilefacenet"}); }
inline std::unique_ptr<facekit::ThreadPool> make_pool(const Args& a) {
    return std::make_unique<facekit::ThreadPool>(int(a.integer("threads", 0, 1, 256)));
}

// ---- JSON ---------------------------------------------------------------------------------------
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
/// A number with `decimals` digits after the point, for labels ("0.998").
inline std::string num_fixed(double v, int decimals) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
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

// ---- many images --------------------------------------------------------------------------------
inline bool is_image_name(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}
/// The images of a folder, recursively, sorted.
inline std::vector<std::string> images_in(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (is_image_name(it->path()) && it->is_regular_file(ec)) found.push_back(it->path().string());
    if (ec) throw facekit::FileError(dir, "cannot list: " + ec.message());
    std::sort(found.begin(), found.end());
    return found;
}
/// The images named on the command line, folders expanded (a path that is not a folder stays as it is,
/// so that an unreadable one is reported as that image's error).
inline std::vector<std::string> expand_images(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (const std::string& a : args) {
        std::error_code ec;
        if (std::filesystem::is_directory(a, ec)) {
            auto found = images_in(a);
            out.insert(out.end(), found.begin(), found.end());
        } else {
            out.push_back(a);
        }
    }
    return out;
}

inline facekit::Image load(const Args& a, const std::string& path) {
    facekit::ImageLimits limits;
    limits.max_pixels = a.integer("max-pixels", 1, std::numeric_limits<long>::max());
    return facekit::load_image(path, limits, a.flag("no-exif") ? facekit::Exif::Ignore : facekit::Exif::Apply);
}

/// A message on one line: control bytes (a newline in a file name) become '?'.
inline std::string one_line(std::string s) {
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return s;
}

/// The failures of a batch: each one a warning line on stderr and an "error" entry in the JSON; the
/// command exits 1 at the end when there was any.
class Failures {
public:
    /// Reports `e`, raised while processing `image`; returns the message for the JSON entry.
    std::string report(const std::string& image, const std::exception& e) {
        std::string message = e.what();
        if (dynamic_cast<const std::bad_alloc*>(&e)) message = "out of memory";
        // FileError's message starts with the file it names; the entry is already that image's
        if (auto* fe = dynamic_cast<const facekit::FileError*>(&e); fe && fe->file() == image)
            message = message.substr(image.size() + 2);
        return report(image, message);
    }
    std::string report(const std::string& image, const std::string& message) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++count_;
        std::fprintf(stderr, "%sfacekit: warning: %s: %s\n", progress_line_open() ? "\n" : "", one_line(image).c_str(),
                     one_line(message).c_str());
        return message;
    }
    int count() const { return count_; }
    int exit_status() const { return count_ ? 1 : 0; }
    /// The progress bar shares stderr: a warning starts on a new line.
    std::atomic<bool>& progress_line_open() { return open_line_; }

private:
    std::mutex mutex_;
    int count_ = 0;
    std::atomic<bool> open_line_{false};
};
/// {"image": ..., "error": ...}
inline std::string error_entry(const std::string& image, const std::string& message) {
    return "{\"image\": " + str(image) + ", \"error\": " + str(message) + "}";
}

/// Progress on stderr for runs of more than a few items: a bar redrawn in place on a terminal, a line per
/// 10 % otherwise (logs, pipes).
class Progress {
public:
    Progress(std::string what, std::size_t total, Failures* failures = nullptr)
        : what_(std::move(what)), total_(total), tty_(::isatty(2)), failures_(failures) {}
    void tick() {
        const std::size_t done = ++done_;
        if (total_ <= kFew) return;
        const std::size_t step = std::max<std::size_t>(1, total_ / (tty_ ? 100 : 10));
        if (done % step != 0 && done != total_) return;
        std::lock_guard<std::mutex> lock(mutex_);
        const int bar = int(30 * done / total_);
        const bool last = done == total_;
        std::fprintf(stderr, "%s%s [%.*s%*s] %zu/%zu%s", tty_ ? "\r" : "", what_.c_str(), bar, "==============================",
                     30 - bar, "", done, total_, tty_ && !last ? "" : "\n");
        std::fflush(stderr);
        if (failures_) failures_->progress_line_open() = tty_ && !last;
    }
    static constexpr std::size_t kFew = 4;

private:
    std::string what_;
    std::size_t total_;
    bool tty_;
    Failures* failures_;
    std::atomic<std::size_t> done_{0};
    std::mutex mutex_;
};

/// The loop of the commands whose output is one JSON entry per image (detect, gallery identify): every
/// image of the command line (folders expanded), `entry_of(path)` giving its entry; an image whose entry
/// throws gets an error entry and a warning instead. Prints the JSON array; returns the exit status.
template <class EntryOf>
int print_entry_per_image(const Args& a, const char* what, EntryOf&& entry_of) {
    const auto files = expand_images(a.positional());
    Failures failures;
    Progress progress(what, files.size(), &failures);
    std::string out = "[";
    for (std::size_t i = 0; i < files.size(); ++i) {
        out += i ? ",\n " : "";
        try {
            out += entry_of(files[i]);
        } catch (const std::exception& e) {
            out += error_entry(files[i], failures.report(files[i], e));
        }
        progress.tick();
    }
    std::cout << out << "]\n";
    return failures.exit_status();
}

/// --draw DIR: writes annotated images under names taken from the inputs' (a second "x" becomes "x-2",
/// so that a/x.jpg and b/x.png do not overwrite each other).
class Drawings {
public:
    explicit Drawings(const Args& a) : dir_(a.get("draw")), format_(a.choice("draw-format", {"jpg", "png"})) {
        if (!dir_.empty() && ::mkdir(dir_.c_str(), 0777) != 0 && errno != EEXIST)
            throw facekit::FileError(dir_, std::string("cannot create directory: ") + std::strerror(errno));
    }
    bool enabled() const { return !dir_.empty(); }
    void save(const facekit::Image& img, const std::string& input) {
        std::string s = std::filesystem::path(input).stem().string();
        if (s.empty()) s = "image";
        const int n = ++used_[s];
        const std::string path = dir_ + "/" + s + (n > 1 ? "-" + std::to_string(n) : "") + "." + format_;
        if (format_ == "png") facekit::save_png(img, path);
        else facekit::save_jpeg(img, path);
    }

private:
    std::string dir_, format_;
    std::map<std::string, int> used_;
};

}  // namespace cli
