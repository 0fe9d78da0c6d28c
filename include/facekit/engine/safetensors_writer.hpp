// facekit/engine/safetensors_writer.hpp: writes F32 tensors as a safetensors file, atomically
// (temporary file, flush, fsync, rename), so a crash mid-write never leaves a half-written file.
#pragma once
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "json.hpp"
#include "safetensors.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace facekit {

struct NamedTensor {
    std::string name;
    std::vector<std::int64_t> shape;
    const float* data = nullptr;
};

namespace detail {
#if defined(__unix__) || defined(__APPLE__)
/// The file a write to `path` must replace: `path` itself, or the file a symbolic link there points to
/// (followed to the end, so that the link stays a link and its target is updated).
inline std::string write_target(const std::string& path) {
    std::error_code ec;
    std::filesystem::path p = path;
    for (int hops = 0; std::filesystem::is_symlink(p, ec); ++hops) {
        if (hops == 40) FACEKIT_THROW(FileError(path, "cannot write: too many levels of symbolic links"));
        const std::filesystem::path to = std::filesystem::read_symlink(p, ec);
        if (ec) FACEKIT_THROW(FileError(path, "cannot write: " + ec.message()));
        p = to.is_absolute() ? to : p.parent_path() / to;
    }
    return p.string();
}
/// Removes temporary files "<target>.tmp<PID>[.<n>]" left by processes that no longer exist (killed
/// mid-save). Temporaries of a live process, which may be saving now, are left alone.
inline void remove_stale_temporaries(const std::string& target) {
    std::error_code ec;
    const std::filesystem::path t = target;
    const std::filesystem::path dir = t.parent_path().empty() ? "." : t.parent_path();
    const std::string prefix = t.filename().string() + ".tmp";
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.compare(0, prefix.size(), prefix) != 0) continue;
        char* end = nullptr;
        const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
        if (pid <= 0 || end == name.c_str() + prefix.size() || (*end && *end != '.')) continue;
        if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove(it->path(), ec);
    }
}
#endif

/// Writes `bytes` to `path` so that a crash at any point leaves the old file or the new one: a temporary
/// file in the same directory, flushed, fsynced, renamed over the target. On POSIX the temporary is created
/// exclusively and never through a link (a link planted at its name cannot redirect the write), the target
/// of a symbolic link `path` is what gets replaced, the file keeps its permissions, and temporaries of
/// killed savers are cleaned up.
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
#if defined(__unix__) || defined(__APPLE__)
    const std::string target = write_target(path);
    remove_stale_temporaries(target);
    struct stat old {};
    const bool exists = ::stat(target.c_str(), &old) == 0;
    const mode_t mode = exists ? (old.st_mode & 07777) : 0666;
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        tmp = target + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(attempt);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && (errno != EEXIST || attempt == 100)) FACEKIT_THROW(FileError(path, std::string("cannot write: ") + std::strerror(errno)));
    }
    bool ok = !exists || ::fchmod(fd, mode) == 0;  // the old file's mode, whatever the umask
    for (std::size_t done = 0; ok && done < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += std::size_t(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved_errno = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), target.c_str()) != 0) {
        const int e = ok ? errno : saved_errno;
        ::unlink(tmp.c_str());
        FACEKIT_THROW(FileError(path, std::string("cannot write: ") + std::strerror(e)));
    }
#else
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) FACEKIT_THROW(FileError(path, std::string("cannot write: ") + std::strerror(errno)));
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        FACEKIT_THROW(FileError(path, std::string("cannot write: ") + std::strerror(errno)));
    }
#endif
}
}  // namespace detail

/// A safetensors file's bytes. The header is padded with spaces so that the data starts on a 64-byte
/// boundary: tensors whose sizes are multiples of 64 bytes can then be read in place (prepacked.hpp).
inline std::string serialize_safetensors(const std::vector<NamedTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata = {}) {
    std::string header = "{";
    std::string data;
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        bool first = true;
        for (auto& [k, v] : metadata) {
            if (!first) header += ",";
            first = false;
            json::write_string(header, k);
            header += ":";
            json::write_string(header, v);
        }
        header += "}";
    }
    for (const NamedTensor& t : tensors) {
        std::int64_t n = 1;
        for (auto d : t.shape) n *= d;
        if (header.size() > 1) header += ",";
        json::write_string(header, t.name);
        header += ":{\"dtype\":\"F32\",\"shape\":[";
        for (std::size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + std::size_t(n) * 4) + "]}";
        data.append(reinterpret_cast<const char*>(t.data), std::size_t(n) * 4);
    }
    header += "}";
    header.append((64 - (8 + header.size()) % 64) % 64, ' ');
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[std::size_t(i)] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF);
    return file + header + data;
}

inline void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    detail::write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace facekit
