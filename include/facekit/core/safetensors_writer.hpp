// facekit/core/safetensors_writer.hpp: writes F32 tensors as a safetensors file, atomically
// (temporary file, flush, fsync, rename), so a crash mid-write never leaves a half-written file.
#pragma once
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "json.hpp"
#include "safetensors.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace facekit {

struct NamedTensor {
    std::string name;
    std::vector<std::int64_t> shape;
    const float* data = nullptr;
};

namespace detail {
/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it into place.
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
    const std::string tmp = path + ".tmp" + std::to_string(
#if defined(__unix__) || defined(__APPLE__)
                                                ::getpid()
#else
                                                0
#endif
                                            );
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw FileError(path, std::string("cannot write: ") + std::strerror(errno));
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
#if defined(__unix__) || defined(__APPLE__)
    ok = ok && ::fsync(fileno(f)) == 0;
#endif
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw FileError(path, std::string("cannot write: ") + std::strerror(errno));
    }
}
}  // namespace detail

inline void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
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
    header.append((8 - (8 + header.size()) % 8) % 8, ' ');
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[std::size_t(i)] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF);
    detail::write_file_atomic(path, file + header + data);
}

}  // namespace facekit
