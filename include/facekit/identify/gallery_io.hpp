// facekit/identify/gallery_io.hpp: the gallery file format, saved atomically and loaded strictly.
//
// Little-endian:  "FKGALLRY" | u32 version (1) | u32 store (0 float, 1 int8) | u32 dim | u32 identities |
// u64 rows | u32 + bytes model name | per identity: u32 + bytes name | rows × u32 owner | float store:
// rows × dim f32 ; int8 store: rows × f32 scale, rows × dim i8 | u64 FNV-1a checksum of all that precedes.
// Saving writes a temporary file, flushes and fsyncs it, renames it over the old one and fsyncs the
// directory: a crash at any point leaves either the previous file or the new one, never a mix.
#pragma once
#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_set>

#include "../engine/safetensors_writer.hpp"
#include "../io/image.hpp"
#include "gallery.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace facekit {

struct GalleryLimits {
    std::uint64_t max_rows = 50'000'000;        // 50 M embeddings
    std::uint64_t max_identities = 10'000'000;
    std::uint64_t max_file_bytes = std::uint64_t(64) << 30;
};

namespace detail {
inline constexpr char kGalleryMagic[8] = {'F', 'K', 'G', 'A', 'L', 'L', 'R', 'Y'};
inline constexpr std::uint32_t kGalleryVersion = 1;

inline std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
template <class T>
void put(std::string& out, T v) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (checked by the reader too)
    out.append(reinterpret_cast<const char*>(b), sizeof(T));
}
inline void put_string(std::string& out, const std::string& s) {
    put<std::uint32_t>(out, std::uint32_t(s.size()));
    out += s;
}

class Reader {
public:
    Reader(const std::string& file, const std::vector<std::uint8_t>& d) : file_(file), d_(d) {}
    template <class T>
    T get(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, d_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string get_string(const char* what) {
        const std::uint32_t n = get<std::uint32_t>(what);
        if (n == 0 || n > Gallery::kMaxNameBytes) fail(std::string(what) + " has length " + std::to_string(n) + " (1 to 255 allowed)");
        need(n, what);
        std::string s(reinterpret_cast<const char*>(d_.data() + pos_), n);
        pos_ += n;
        for (unsigned char c : s)
            if (c < 0x20) fail(std::string(what) + " contains a control character");
        return s;
    }
    void need(std::size_t n, const char* what) {
        if (n > d_.size() - 8 - pos_) fail(std::string("truncated in ") + what);
    }
    std::size_t pos() const noexcept { return pos_; }
    void skip(std::size_t n) { pos_ += n; }
    [[noreturn]] void fail(const std::string& what) const { FACEKIT_THROW(FileError(file_, "bad gallery: " + what)); }

private:
    const std::string& file_;
    const std::vector<std::uint8_t>& d_;
    std::size_t pos_ = 8;  // after the magic
};
}  // namespace detail

/// Serialises a gallery (the bytes save_gallery writes).
inline std::string serialize_gallery(const Gallery& g) {
    std::string out(detail::kGalleryMagic, 8);
    detail::put<std::uint32_t>(out, detail::kGalleryVersion);
    detail::put<std::uint32_t>(out, g.store() == Gallery::Store::Int8 ? 1u : 0u);
    detail::put<std::uint32_t>(out, std::uint32_t(g.dim()));
    detail::put<std::uint32_t>(out, std::uint32_t(g.identities()));
    detail::put<std::uint64_t>(out, std::uint64_t(g.size()));
    detail::put_string(out, g.model());
    for (auto& n : g.names()) detail::put_string(out, n);
    out.append(reinterpret_cast<const char*>(g.owners().data()), g.owners().size() * 4);
    if (g.store() == Gallery::Store::Float) {
        out.append(reinterpret_cast<const char*>(g.floats().data()), g.floats().size() * 4);
    } else {
        out.append(reinterpret_cast<const char*>(g.scales().data()), g.scales().size() * 4);
        out.append(reinterpret_cast<const char*>(g.bytes().data()), g.bytes().size());
    }
    detail::put<std::uint64_t>(out, detail::fnv1a(reinterpret_cast<const unsigned char*>(out.data()), out.size()));
    return out;
}

/// Saves atomically: the previous file survives any crash during the save (see detail::write_file_atomic:
/// exclusive temporary, links followed, permissions kept).
inline void save_gallery(const Gallery& g, const std::string& path) {
    detail::write_file_atomic(path, serialize_gallery(g));
#if defined(__unix__) || defined(__APPLE__)
    const std::string target = detail::write_target(path);
    const auto slash = target.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : target.substr(0, slash));
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {  // make the rename itself durable
        ::fsync(fd);
        ::close(fd);
    }
#endif
}

/// Parses gallery bytes; every field is checked and the problem named.
inline Gallery parse_gallery(const std::vector<std::uint8_t>& d, const std::string& file, const GalleryLimits& limits = {}) {
    const std::uint32_t probe = 1;
    if (*reinterpret_cast<const unsigned char*>(&probe) != 1) FACEKIT_THROW(FileError(file, "big-endian hosts are not supported"));
    if (d.size() < 8 + 8 || std::memcmp(d.data(), detail::kGalleryMagic, 8) != 0)
        FACEKIT_THROW(FileError(file, "not a facekit gallery (bad magic)"));
    detail::Reader r(file, d);
    const std::uint32_t version = r.get<std::uint32_t>("header");
    if (version != detail::kGalleryVersion)
        r.fail("unsupported version " + std::to_string(version) + " (this build reads version 1)");
    const std::uint64_t stored = [&] {
        std::uint64_t v;
        std::memcpy(&v, d.data() + d.size() - 8, 8);
        return v;
    }();
#ifndef FACEKIT_FUZZ_GALLERY_BODY  // defined only by the fuzz target that explores what lies past the checksum
    if (detail::fnv1a(d.data(), d.size() - 8) != stored) r.fail("checksum mismatch (the file is damaged)");
#else
    (void)stored;
#endif
    const std::uint32_t store = r.get<std::uint32_t>("header");
    if (store > 1) r.fail("unknown store type " + std::to_string(store));
    const std::uint32_t dim = r.get<std::uint32_t>("header");
    if (dim == 0 || dim > std::uint32_t(Gallery::kMaxDim)) r.fail("dimension " + std::to_string(dim) + " out of range");
    const std::uint32_t ids = r.get<std::uint32_t>("header");
    const std::uint64_t rows = r.get<std::uint64_t>("header");
    if (rows > limits.max_rows) r.fail(std::to_string(rows) + " embeddings exceed the limit of " + std::to_string(limits.max_rows));
    if (ids > limits.max_identities || ids > rows) r.fail(std::to_string(ids) + " identities for " + std::to_string(rows) + " embeddings");
    const std::string model = r.get_string("model name");
    Gallery g(model, int(dim), store ? Gallery::Store::Int8 : Gallery::Store::Float);
    std::vector<std::string> names;
    std::unordered_set<std::string> seen;
    for (std::uint32_t i = 0; i < ids; ++i) {
        names.push_back(r.get_string("identity name"));
        if (!seen.insert(names.back()).second) r.fail("identity \"" + names.back() + "\" appears twice");
    }
    // sizes are checked against the bytes present before anything that large is allocated
    const std::uint64_t per_row = 4 + (store ? 4 + std::uint64_t(dim) : 4 * std::uint64_t(dim));
    if (rows * per_row != d.size() - 8 - r.pos())
        r.fail("holds " + std::to_string(d.size() - 8 - r.pos()) + " bytes of embeddings, expected " + std::to_string(rows * per_row));
    // (memcpy with a null pointer is undefined even for 0 bytes: an empty gallery has empty vectors)
    auto copy_out = [&](void* dst, std::uint64_t bytes, std::size_t at) {
        if (bytes) std::memcpy(dst, d.data() + at, std::size_t(bytes));
    };
    std::vector<std::uint32_t> owners(rows);
    copy_out(owners.data(), rows * 4, r.pos());
    r.skip(rows * 4);
    std::vector<std::size_t> counts(ids, 0);
    for (auto o : owners) {
        if (o >= ids) r.fail("an embedding belongs to identity " + std::to_string(o) + " of " + std::to_string(ids));
        counts[o]++;
    }
    for (std::uint32_t i = 0; i < ids; ++i)
        if (!counts[i]) r.fail("identity \"" + names[i] + "\" has no embedding");
    std::vector<float> floats, scales;
    std::vector<std::int8_t> bytes;
    // Rows are unit vectors (enroll normalises them): a row of 3e38s would match every face at distance 0.
    auto check_unit = [&](std::uint64_t row, double squared_norm, double tolerance) {
        if (!(std::abs(squared_norm - 1.0) <= tolerance))
            r.fail("embedding " + std::to_string(row) + " is not of unit length (squared norm " + std::to_string(squared_norm) + ")");
    };
    if (!store) {
        floats.resize(rows * dim);
        copy_out(floats.data(), floats.size() * 4, r.pos());
        for (float v : floats)
            if (!std::isfinite(v)) r.fail("an embedding has a non-finite value");
        for (std::uint64_t row = 0; row < rows; ++row) {
            double ss = 0;
            for (std::uint32_t k = 0; k < dim; ++k) ss += double(floats[row * dim + k]) * floats[row * dim + k];
            check_unit(row, ss, 1e-3);
        }
    } else {
        scales.resize(rows);
        copy_out(scales.data(), rows * 4, r.pos());
        bytes.resize(rows * dim);
        copy_out(bytes.data(), bytes.size(), r.pos() + rows * 4);
        for (float s : scales)
            if (!(s > 0) || !std::isfinite(s)) r.fail("an embedding has an invalid scale");
        for (std::uint64_t row = 0; row < rows; ++row) {  // int8 rounding: each value within scale / 2
            double ss = 0;
            for (std::uint32_t k = 0; k < dim; ++k) ss += double(bytes[row * dim + k]) * bytes[row * dim + k];
            check_unit(row, ss * double(scales[row]) * scales[row], 0.05);
        }
    }
    g.assign(std::move(names), std::move(owners), std::move(floats), std::move(bytes), std::move(scales));
    return g;
}

inline Gallery load_gallery(const std::string& path, const GalleryLimits& limits = {}) {
    auto bytes = detail::read_file(path, std::size_t(limits.max_file_bytes));
    return parse_gallery(bytes, path, limits);
}

#if defined(__unix__) || defined(__APPLE__)
/// An advisory lock (flock) on "<gallery>.lock", held for a read-modify-write of the gallery, so that two
/// processes enrolling into one gallery both land: the second waits, then reads what the first saved. The
/// gallery file itself cannot carry the lock, since each save replaces it with a new file.
class GalleryLock {
public:
    explicit GalleryLock(const std::string& gallery) {
        const std::string path = detail::write_target(gallery) + ".lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd_ < 0) FACEKIT_THROW(FileError(path, std::string("cannot open the lock file: ") + std::strerror(errno)));
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd_);
            FACEKIT_THROW(FileError(path, std::string("cannot lock: ") + std::strerror(e)));
        }
    }
    ~GalleryLock() { ::close(fd_); }  // closing releases the lock
    GalleryLock(const GalleryLock&) = delete;
    GalleryLock& operator=(const GalleryLock&) = delete;

private:
    int fd_ = -1;
};

/// Read-modify-write under the gallery's lock: loads `path` (or, when it does not exist, starts from
/// `make_new()`), applies `change`, saves. Returns the gallery as saved.
template <class Make, class Change>
Gallery update_gallery(const std::string& path, Make&& make_new, Change&& change, const GalleryLimits& limits = {}) {
    GalleryLock lock(path);
    struct stat sb {};
    Gallery g = ::stat(path.c_str(), &sb) == 0 ? load_gallery(path, limits) : make_new();
    change(g);
    save_gallery(g, path);
    return g;
}
#endif

}  // namespace facekit
