// facekit/engine/safetensors.hpp: reads weights in the safetensors format, strictly.
//
// File layout: u64 little-endian header size N, N bytes of JSON, then the tensors' bytes. Every entry
// except "__metadata__" is {"dtype", "shape", "data_offsets": [begin, end]}. The reader checks the JSON
// syntax, each dtype, shape × element size == end − begin, that ranges lie inside the data, and that
// they tile it exactly (no overlaps, no holes). A file is memory-mapped where the OS allows, read
// otherwise, or wrapped from a buffer already in memory (embedded builds).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define FACEKIT_HAS_MMAP 1
#endif

#include "error.hpp"
#include "json.hpp"

namespace facekit {

enum class DType { F32, F64, I32, I64, F16, BF16, I8, U8, I16, BOOL };

struct SafeTensorsLimits {
    std::uint64_t max_header_bytes = 16u << 20;  // 16 MiB of JSON is far beyond any real model
    std::size_t max_tensors = 100000;
    int max_rank = 8;
};

/// One tensor inside a SafeTensors file: its dtype, shape and raw little-endian bytes.
struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    const unsigned char* bytes = nullptr;
    std::size_t nbytes = 0;

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

class SafeTensors {
public:
    /// Opens a file (memory-mapped where possible). Raises FileError naming the file and the problem.
    static SafeTensors open(const std::string& path, const SafeTensorsLimits& limits = {}) {
        SafeTensors st;
        try_open(path, st, limits).raise_if_error();
        return st;
    }
    /// The same without raising: on failure `out` is left empty and the status says why.
    static Status try_open(const std::string& path, SafeTensors& out, const SafeTensorsLimits& limits = {}) {
        SafeTensors st;
        st.name_ = path;
        Status s = Storage::map_or_read(path, st.storage_);
        if (s) s = st.parse(limits);
        if (s) out = std::move(st);
        return s;
    }
    /// Wraps bytes already in memory (not copied: they must outlive the object).
    static SafeTensors from_memory(const void* data, std::size_t size, std::string name = "<memory>",
                                   const SafeTensorsLimits& limits = {}) {
        SafeTensors st;
        try_from_memory(data, size, st, std::move(name), limits).raise_if_error();
        return st;
    }
    /// The same without raising.
    static Status try_from_memory(const void* data, std::size_t size, SafeTensors& out, std::string name = "<memory>",
                                  const SafeTensorsLimits& limits = {}) {
        SafeTensors st;
        st.name_ = std::move(name);
        st.storage_ = std::make_shared<Storage>();
        st.storage_->data = static_cast<const unsigned char*>(data);
        st.storage_->size = size;
        Status s = st.parse(limits);
        if (s) out = std::move(st);
        return s;
    }

    const std::string& name() const noexcept { return name_; }
    const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
    bool contains(const std::string& tensor) const { return index_.count(tensor) != 0; }
    const TensorInfo& at(const std::string& tensor) const {
        const TensorInfo* t = find(tensor);
        if (!t) FACEKIT_THROW(FileError(name_, "tensor \"" + tensor + "\" not found"));
        return *t;
    }
    /// The tensor's entry, or null.
    const TensorInfo* find(const std::string& tensor) const {
        auto it = index_.find(tensor);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    /// A metadata value, or "" when the key is absent.
    std::string metadata(const std::string& key) const {
        auto it = metadata_.find(key);
        return it == metadata_.end() ? std::string() : it->second;
    }
    const std::map<std::string, std::string>& all_metadata() const noexcept { return metadata_; }
    /// Shares ownership of the bytes (the mapping or the copy read), for whoever reads them in place
    /// after this object is gone: packed weights (prepacked.hpp). Null for from_memory's bytes.
    std::shared_ptr<const void> keep_alive() const {
        return storage_ && (storage_->mapped || !storage_->owned.empty()) ? std::shared_ptr<const void>(storage_) : nullptr;
    }

    /// The values of an F32 tensor, checked against the expected shape (empty = any shape).
    std::vector<float> floats(const std::string& tensor, const std::vector<std::int64_t>& expect_shape = {}) const {
        std::vector<float> v;
        try_floats(tensor, v, expect_shape).raise_if_error();
        return v;
    }
    /// The same without raising.
    Status try_floats(const std::string& tensor, std::vector<float>& out, const std::vector<std::int64_t>& expect_shape = {}) const {
        const TensorInfo* t = find(tensor);
        if (!t) return Status::file_error(name_, "tensor \"" + tensor + "\" not found");
        if (t->dtype != DType::F32) return Status::file_error(name_, "tensor \"" + tensor + "\" is not F32");
        if (!expect_shape.empty() && t->shape != expect_shape)
            return Status::file_error(name_, "tensor \"" + tensor + "\" has shape " + shape_string(t->shape) + ", expected " +
                                                 shape_string(expect_shape));
        out.resize(std::size_t(t->numel()));
        if (!out.empty()) std::memcpy(out.data(), t->bytes, t->nbytes);  // host is little-endian (checked below)
        storage_->release(t->bytes, t->nbytes);
        return {};
    }

    static std::string shape_string(const std::vector<std::int64_t>& s) {
        std::string r = "[";
        for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
        return r + "]";
    }

private:
    struct Storage {
        const unsigned char* data = nullptr;
        std::size_t size = 0;
        std::vector<unsigned char> owned;
        void* mapped = nullptr;
        ~Storage() {
#ifdef FACEKIT_HAS_MMAP
            if (mapped) munmap(mapped, size);
#endif
        }
        /// Lets the OS take back the pages of [p, p + n) once they have been copied out: a mapped file's
        /// pages would otherwise stay resident until the file is closed, so that loading a network held
        /// the whole file beside its packed weights (Inception-ResNet-v1: 214 MiB at the peak, 125 after;
        /// benchmarks/bench_load). A later read faults them back in from the file.
        void release(const unsigned char* p, std::size_t n) const {
#ifdef FACEKIT_HAS_MMAP
            if (!mapped || n == 0) return;
            const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
            const std::uintptr_t lo = std::uintptr_t(p) & ~(page - 1), hi = (std::uintptr_t(p) + n + page - 1) & ~(page - 1);
            madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
#else
            (void)p, (void)n;
#endif
        }
        static Status map_or_read(const std::string& path, std::shared_ptr<Storage>& out) {
            auto s = std::make_shared<Storage>();
#ifdef FACEKIT_HAS_MMAP
            int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO's open would wait forever
            if (fd < 0) return Status::file_error(path, std::string("cannot open: ") + std::strerror(errno));
            struct stat sb {};
            if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
                ::close(fd);
                return Status::file_error(path, "not a regular file");
            }
            s->size = std::size_t(sb.st_size);
            if (s->size > 0) {
                void* p = mmap(nullptr, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p != MAP_FAILED) s->mapped = p, s->data = static_cast<const unsigned char*>(p);
            }
            ::close(fd);
            if (s->mapped || s->size == 0) return out = std::move(s), Status();
#endif
            std::FILE* f = std::fopen(path.c_str(), "rb");
            if (!f) return Status::file_error(path, std::string("cannot open: ") + std::strerror(errno));
            std::vector<unsigned char> buf;
            unsigned char chunk[1 << 16];
            std::size_t n;
            while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
            bool err = std::ferror(f);
            std::fclose(f);
            if (err) return Status::file_error(path, "read error");
            s->owned = std::move(buf);
            s->data = s->owned.data();
            s->size = s->owned.size();
            out = std::move(s);
            return {};
        }
    };

    static bool parse_dtype(const std::string& s, DType& d, std::size_t& size) {
        static const std::pair<const char*, std::pair<DType, std::size_t>> table[] = {
            {"F32", {DType::F32, 4}}, {"F64", {DType::F64, 8}}, {"I32", {DType::I32, 4}}, {"I64", {DType::I64, 8}},
            {"F16", {DType::F16, 2}}, {"BF16", {DType::BF16, 2}}, {"I8", {DType::I8, 1}}, {"U8", {DType::U8, 1}},
            {"I16", {DType::I16, 2}}, {"BOOL", {DType::BOOL, 1}}};
        for (auto& e : table)
            if (s == e.first) return d = e.second.first, size = e.second.second, true;
        return false;
    }

    Status bad(const std::string& what) const { return Status::file_error(name_, what); }

    /// Reads and checks the header; on failure the object is not to be used.
    Status parse(const SafeTensorsLimits& limits) {
        static_assert(sizeof(float) == 4, "facekit needs IEEE-754 binary32 floats");
        const std::uint32_t probe = 1;
        if (*reinterpret_cast<const unsigned char*>(&probe) != 1) return bad("big-endian hosts are not supported");
        const unsigned char* d = storage_->data;
        std::size_t size = storage_->size;
        if (size < 8) return bad("not a safetensors file (shorter than its 8-byte header size)");
        std::uint64_t hsize = 0;
        for (int i = 7; i >= 0; --i) hsize = (hsize << 8) | d[i];
        if (hsize > limits.max_header_bytes)
            return bad("header size " + std::to_string(hsize) + " exceeds the limit of " + std::to_string(limits.max_header_bytes));
        if (hsize > size - 8)
            return bad("header size " + std::to_string(hsize) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
        Json header;
        std::string json_error;
        if (!Json::try_parse(std::string_view(reinterpret_cast<const char*>(d + 8), std::size_t(hsize)), header, json_error))
            return bad("bad header: " + json_error);
        if (!header.is_object()) return bad("bad header: not a JSON object");
        const unsigned char* data = d + 8 + hsize;
        const std::size_t data_size = size - 8 - std::size_t(hsize);
        struct Range { std::uint64_t begin, end; std::size_t index; };
        std::vector<Range> ranges;
        for (const auto& entry : header.object()) {
            const std::string& key = entry.first;  // named, not a structured binding: lambdas capture it
            const Json& value = entry.second;
            if (key == "__metadata__") {
                if (!value.is_object()) return bad("__metadata__ is not an object");
                for (auto& [mk, mv] : value.object()) {
                    if (!mv.is_string()) return bad("__metadata__ value \"" + mk + "\" is not a string");
                    metadata_[mk] = mv.string();
                }
                continue;
            }
            if (tensors_.size() >= limits.max_tensors) return bad("more than " + std::to_string(limits.max_tensors) + " tensors");
            auto tbad = [&](const std::string& what) { return bad("tensor \"" + key + "\": " + what); };
            if (!value.is_object()) return tbad("entry is not an object");
            if (value.object().size() != 3) return tbad("entry must have exactly dtype, shape and data_offsets");
            const Json* jd = value.find("dtype");
            const Json* js = value.find("shape");
            const Json* jo = value.find("data_offsets");
            if (!jd || !js || !jo) return tbad("entry must have exactly dtype, shape and data_offsets");
            TensorInfo t;
            t.name = key;
            std::size_t esize = 0;
            if (!jd->is_string() || !parse_dtype(jd->string(), t.dtype, esize))
                return tbad("unknown dtype " + (jd->is_string() ? jd->string() : std::string("(not a string)")));
            if (!js->is_array() || int(js->array().size()) > limits.max_rank) return tbad("shape is not an array of rank <= 8");
            // the element count, refused above 2^62 before any product could overflow 64 bits
            constexpr std::uint64_t kMaxElements = std::uint64_t(1) << 62;
            std::uint64_t numel = 1;
            for (auto& dim : js->array()) {
                if (!dim.is_integer() || dim.integer() < 0) return tbad("shape has a dimension that is not a non-negative integer");
                t.shape.push_back(dim.integer());
                const std::uint64_t extent = std::uint64_t(dim.integer());
                if (extent != 0 && numel > kMaxElements / extent) return tbad("shape is too large");
                numel *= extent;
            }
            if (!jo->is_array() || jo->array().size() != 2 || !jo->array()[0].is_integer() ||
                !jo->array()[1].is_integer())
                return tbad("data_offsets is not a pair of integers");
            std::int64_t b = jo->array()[0].integer(), e = jo->array()[1].integer();
            if (b < 0 || e < b) return tbad("data_offsets [" + std::to_string(b) + "," + std::to_string(e) + "] are invalid");
            if (std::uint64_t(e) > data_size)
                return tbad("data_offsets end " + std::to_string(e) + " is past the end of the data (" + std::to_string(data_size) + " bytes)");
            if (std::uint64_t(e - b) % esize != 0 || numel != std::uint64_t(e - b) / esize)
                return tbad("shape " + shape_string(t.shape) + " × " + std::to_string(esize) + " bytes does not match the " +
                     std::to_string(e - b) + " bytes of data_offsets");
            t.bytes = data + b;
            t.nbytes = std::size_t(e - b);
            ranges.push_back({std::uint64_t(b), std::uint64_t(e), tensors_.size()});
            index_[key] = tensors_.size();
            tensors_.push_back(std::move(t));
        }
        std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        std::uint64_t expect = 0;
        for (auto& r : ranges) {
            if (r.begin < expect)
                return bad("tensor \"" + tensors_[r.index].name + "\" overlaps the previous tensor's bytes");
            if (r.begin > expect)
                return bad("hole of " + std::to_string(r.begin - expect) + " bytes before tensor \"" + tensors_[r.index].name + "\"");
            expect = r.end;
        }
        if (expect != data_size)
            return bad(std::to_string(data_size - expect) + " bytes after the last tensor are not described by the header");
        return {};
    }

    std::string name_;
    std::shared_ptr<Storage> storage_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace facekit
