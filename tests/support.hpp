// Test helpers: where the shared data and the converted models live. Missing data is a failure, never
// a skip: CI must not turn green because a file was not there.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit/engine/error.hpp"

namespace facekit::test {

inline std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}
/// ../shared (override: FACEKIT_SHARED).
inline std::string shared_dir() { return env_or("FACEKIT_SHARED", FACEKIT_DEFAULT_SHARED_DIR); }
/// The converted models (override: FACEKIT_MODELS).
inline std::string models_dir() { return env_or("FACEKIT_MODELS", FACEKIT_DEFAULT_MODELS_DIR); }

/// Every how many reference photos the photo-by-photo tests check (FACEKIT_TEST_EVERY, default 1: all).
/// CI sets it for the Arm tests under qemu-user, where a photo takes thirty times as long.
inline int test_every() {
    const int n = std::atoi(env_or("FACEKIT_TEST_EVERY", "1").c_str());
    return n > 1 ? n : 1;
}

inline bool exists(const std::string& path) {
    struct stat sb {};
    return ::stat(path.c_str(), &sb) == 0;
}
/// Path of a required data file; fails the test loudly when it is missing.
inline std::string require_file(const std::string& path) {
    if (!exists(path))
        throw Error("required test data missing: " + path +
                    " (set FACEKIT_SHARED / FACEKIT_MODELS, or run the set-up command in README.md)");
    return path;
}
inline std::string shared(const std::string& rel) { return require_file(shared_dir() + "/" + rel); }
inline std::string model(const std::string& name) { return require_file(models_dir() + "/" + name); }

inline std::string read_text(const std::string& path) {
    std::ifstream f(require_file(path), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
}
inline std::string temp_path(const std::string& name) {
    return env_or("TMPDIR", "/tmp") + std::string("/facekit-test-") + std::to_string(::getpid()) + "-" + name;
}

}  // namespace facekit::test
