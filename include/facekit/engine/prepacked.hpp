// facekit/engine/prepacked.hpp: packed weights files, read where they lie.
//
// A converted weights file holds float tensors by upstream name; loading it packs every layer into the
// layout its backend's kernels read (panels, Winograd transforms, padded epilogues), in RAM. A *packed*
// weights file holds those arrays already packed, so that loading only checks them and points the layers
// at them: weights compiled into a firmware (`facekit pack --embed-header`) are read from flash, and a
// packed file on disk is read from its memory mapping; neither is copied.
//
// The format is a safetensors file with the source file's metadata (architecture, graph, provenance) and:
//   "packed_layout": the backend layout the arrays are in (Backend::packed_layout(), "xsimd-f32-w16-v1":
//                    the vector width decides it, so an SSE2 build packs for NEON targets too);
//   "packed_by":     the facekit version and instruction set that packed it;
//   one F32 tensor "layer<k>.<array>" for each non-empty array of the network's k-th weighted layer
//   (Net::for_each_layer order; the arrays in Backend::for_each_array order), each padded with zeros to
//   a multiple of 16 floats, so that with the header padded to 64 bytes every array starts 64-byte aligned.
// Loading (models::WeightFile) refuses a file packed for another layout, by another network (a missing,
// extra or wrongly sized array) or holding a non-finite value, each with the file and tensor named.
#pragma once
#include <string>
#include <type_traits>
#include <utility>

namespace facekit::nn {

namespace detail {
template <class B, class = void>
struct has_packed_layout : std::false_type {};
template <class B>
struct has_packed_layout<B, std::void_t<decltype(B::packed_layout())>> : std::true_type {};
}  // namespace detail

/// The layout B's packed arrays take, or "" when B reads float weights files only.
template <class B>
const char* packed_layout() noexcept {
    if constexpr (detail::has_packed_layout<B>::value) return B::packed_layout();
    else return "";
}

/// Every stored array is padded to a multiple of this many floats (64 bytes).
inline constexpr std::size_t kPackedPadding = 16;
inline std::size_t packed_padded_size(std::size_t n) { return (n + kPackedPadding - 1) / kPackedPadding * kPackedPadding; }

/// The tensor that holds array `array` of weighted layer `layer`.
inline std::string packed_tensor_name(int layer, const char* array) { return "layer" + std::to_string(layer) + "." + array; }

}  // namespace facekit::nn
