// facekit/identify/gallery.hpp: a k-nearest-neighbour gallery of enrolled identities.
//
// Every embedding of every identity sits in one contiguous matrix, searched by brute force: for
// L2-normalised vectors the squared distance is 2 − 2·⟨q, v⟩, so a search is one pass of dot products over
// the store, split across threads (each keeps its own top-k, then they merge). It is bound by memory
// bandwidth, which the optional int8 store (per-vector scale) cuts by four.
//
// Identification: of the k nearest embeddings, only those within the threshold vote for their identities;
// the identity with the most votes wins (ties: the one whose nearest embedding is closer), and the answer
// is "unknown" when no neighbour is within the threshold. Far neighbours must not vote: a person enrolled
// from one photo would otherwise lose to anyone enrolled from more, however far their photos are. With
// k = 1 this is plain nearest-neighbour identification.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../engine/error.hpp"
#include "../engine/thread_pool.hpp"

#include "../engine/backends/xsimd/available.hpp"
#if FACEKIT_XSIMD
#include "../engine/intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>
#endif

namespace facekit {

struct GalleryMatch {
    std::string name;
    float distance = 0;  // squared Euclidean between normalised embeddings, in [0, 4]
};

struct GallerySearch {
    std::vector<GalleryMatch> nearest;     // the k nearest embeddings, closest first
    std::vector<GalleryMatch> candidates;  // identities among them, by their closest embedding
    std::optional<std::string> name;       // the decision; empty = unknown (no neighbour within the threshold)
    float distance = 0;                    // of the decided identity's closest embedding (unknown: the nearest)
};

class Gallery {
public:
    /// v / ‖v‖₂, given ss = Σ v² (checked by the caller): in double, as the stored rows were made.
    static void scale_to_unit(std::vector<float>& v, double ss) {
        for (float& x : v) x = float(x / std::sqrt(ss));
    }
    enum class Store { Float, Int8 };

    Gallery(std::string model, int dim, Store store = Store::Float) : model_(std::move(model)), dim_(dim), store_(store) {
        if (model_.empty() || model_.size() > kMaxNameBytes) FACEKIT_THROW(InvalidArgument("gallery: model name must have 1 to 255 bytes"));
        if (dim <= 0 || dim > kMaxDim) FACEKIT_THROW(InvalidArgument("gallery: dimension must be 1 to " + std::to_string(kMaxDim)));
    }

    static constexpr int kMaxDim = 4096;
    static constexpr std::size_t kMaxNameBytes = 255;

    const std::string& model() const noexcept { return model_; }
    int dim() const noexcept { return dim_; }
    Store store() const noexcept { return store_; }
    std::size_t size() const noexcept { return owner_.size(); }
    std::size_t identities() const noexcept { return names_.size(); }

    /// Adds one embedding (L2-normalised here) under `name`.
    void enroll(const std::string& name, const std::vector<float>& embedding) {
        check_name(name);
        if (int(embedding.size()) != dim_)
            FACEKIT_THROW(InvalidArgument("gallery: embedding has dimension " + std::to_string(embedding.size()) + ", the gallery " +
                                  std::to_string(dim_)));
        std::vector<float> v = embedding;
        double ss = 0;
        for (float x : v) {
            if (!std::isfinite(x)) FACEKIT_THROW(InvalidArgument("gallery: embedding has a non-finite value"));
            ss += double(x) * x;
        }
        if (!(ss > 0)) FACEKIT_THROW(InvalidArgument("gallery: embedding is all zeros"));
        scale_to_unit(v, ss);
        owner_.push_back(identity_index(name, true));
        append(v.data());
    }

    /// (name, embedding count) for every identity, in enrolment order.
    std::vector<std::pair<std::string, std::size_t>> list() const {
        std::vector<std::pair<std::string, std::size_t>> r;
        for (auto& n : names_) r.emplace_back(n, 0);
        for (auto o : owner_) r[o].second++;
        return r;
    }

    /// Removes an identity and all its embeddings; false when it is not enrolled.
    bool remove(const std::string& name) {
        auto it = std::find(names_.begin(), names_.end(), name);
        if (it == names_.end()) return false;
        const std::uint32_t gone = std::uint32_t(it - names_.begin());
        std::size_t w = 0;
        for (std::size_t r = 0; r < owner_.size(); ++r) {
            if (owner_[r] == gone) continue;
            owner_[w] = owner_[r] > gone ? owner_[r] - 1 : owner_[r];
            if (w != r) move_row(r, w);
            ++w;
        }
        owner_.resize(w);
        floats_.resize(store_ == Store::Float ? w * std::size_t(dim_) : 0);
        bytes_.resize(store_ == Store::Int8 ? w * std::size_t(dim_) : 0);
        scales_.resize(store_ == Store::Int8 ? w : 0);
        names_.erase(it);
        return true;
    }

    void rename(const std::string& from, const std::string& to) {
        check_name(to);
        auto it = std::find(names_.begin(), names_.end(), from);
        if (it == names_.end()) FACEKIT_THROW(InvalidArgument("gallery: no identity named \"" + from + "\""));
        if (from != to && std::find(names_.begin(), names_.end(), to) != names_.end())
            FACEKIT_THROW(InvalidArgument("gallery: an identity named \"" + to + "\" already exists"));
        *it = to;
    }

    /// The k nearest embeddings to `query` and the decision at `threshold`.
    GallerySearch search(const std::vector<float>& query, int k, float threshold, ThreadPool* pool = nullptr) const {
        if (int(query.size()) != dim_) FACEKIT_THROW(InvalidArgument("gallery: query has the wrong dimension"));
        if (k < 1) FACEKIT_THROW(InvalidArgument("gallery: k must be at least 1"));
        std::vector<float> q = query;
        double ss = 0;
        for (float x : q) ss += double(x) * x;
        if (!(ss > 0) || !std::isfinite(ss)) FACEKIT_THROW(InvalidArgument("gallery: query is zero or not finite"));
        scale_to_unit(q, ss);
        GallerySearch result;
        for (auto& [score, row] : top_k(q.data(), std::size_t(k), pool))
            result.nearest.push_back({names_[owner_[row]], std::max(0.0f, 2.0f - 2.0f * score)});
        if (result.nearest.empty()) return result;
        // candidates: every identity among the k nearest, by its closest embedding
        std::map<std::string, float> closest;
        for (auto& m : result.nearest) {
            auto it = closest.try_emplace(m.name, m.distance).first;
            it->second = std::min(it->second, m.distance);
        }
        for (auto& [name, d] : closest) result.candidates.push_back({name, d});
        std::stable_sort(result.candidates.begin(), result.candidates.end(),
                         [](const GalleryMatch& a, const GalleryMatch& b) { return a.distance < b.distance; });
        // the decision: votes of the neighbours within the threshold
        std::map<std::string, std::pair<int, float>> votes;  // name → (votes, closest distance)
        for (auto& m : result.nearest) {
            if (!(m.distance <= threshold)) continue;
            auto& v = votes.try_emplace(m.name, 0, m.distance).first->second;
            v.first++;
            v.second = std::min(v.second, m.distance);
        }
        result.distance = result.candidates.front().distance;
        if (votes.empty()) return result;  // unknown: the distance is the nearest identity's
        auto best = std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) {
            return a.second.first != b.second.first ? a.second.first < b.second.first : a.second.second > b.second.second;
        });
        result.name = best->first;
        result.distance = best->second.second;
        return result;
    }

    // Raw access for persistence and benchmarks.
    const std::vector<std::string>& names() const noexcept { return names_; }
    const std::vector<std::uint32_t>& owners() const noexcept { return owner_; }
    const std::vector<float>& floats() const noexcept { return floats_; }
    const std::vector<std::int8_t>& bytes() const noexcept { return bytes_; }
    const std::vector<float>& scales() const noexcept { return scales_; }

    /// Bulk construction (gallery_io.hpp, benchmarks): rows already normalised, owners valid.
    void assign(std::vector<std::string> names, std::vector<std::uint32_t> owners, std::vector<float> floats,
                std::vector<std::int8_t> bytes, std::vector<float> scales) {
        names_ = std::move(names), owner_ = std::move(owners), floats_ = std::move(floats);
        bytes_ = std::move(bytes), scales_ = std::move(scales);
    }
    /// Quantises normalised rows into the int8 store: v ≈ scale · q, q in [−127, 127].
    static void quantize(const float* v, int dim, std::int8_t* q, float& scale) {
        float mx = 0;
        for (int i = 0; i < dim; ++i) mx = std::max(mx, std::abs(v[i]));
        scale = mx > 0 ? mx / 127.0f : 1.0f;
        for (int i = 0; i < dim; ++i) q[i] = std::int8_t(std::lround(v[i] / scale));
    }

private:
    void check_name(const std::string& name) const {
        if (name.empty() || name.size() > kMaxNameBytes)
            FACEKIT_THROW(InvalidArgument("gallery: identity names must have 1 to 255 bytes"));
        for (unsigned char c : name)
            if (c < 0x20) FACEKIT_THROW(InvalidArgument("gallery: identity names may not contain control characters"));
    }
    std::uint32_t identity_index(const std::string& name, bool create) {
        auto it = std::find(names_.begin(), names_.end(), name);
        if (it != names_.end()) return std::uint32_t(it - names_.begin());
        if (!create) FACEKIT_THROW(InvalidArgument("gallery: no identity named \"" + name + "\""));
        names_.push_back(name);
        return std::uint32_t(names_.size() - 1);
    }
    void append(const float* v) {
        if (store_ == Store::Float) {
            floats_.insert(floats_.end(), v, v + dim_);
        } else {
            bytes_.resize(bytes_.size() + std::size_t(dim_));
            scales_.push_back(0);
            quantize(v, dim_, &bytes_[bytes_.size() - std::size_t(dim_)], scales_.back());
        }
    }
    void move_row(std::size_t from, std::size_t to) {
        const std::size_t d = std::size_t(dim_);
        if (store_ == Store::Float) {
            std::copy(&floats_[from * d], &floats_[from * d] + d, &floats_[to * d]);
        } else {
            std::copy(&bytes_[from * d], &bytes_[from * d] + d, &bytes_[to * d]);
            scales_[to] = scales_[from];
        }
    }

    /// The query as the store reads it: floats, or int8 with its own scale (int8 × int8 sums in int32,
    /// which vectorise without reordering any floating-point sum).
    struct Query {
        const float* f;
        std::vector<std::int8_t> q8;
        float scale = 1;
    };

    float dot(const Query& q, std::size_t row) const {
        const std::size_t d = std::size_t(dim_);
        if (store_ == Store::Float) {
            const float* v = &floats_[row * d];
#if FACEKIT_XSIMD
            using V = xsimd::batch<float>;
            constexpr std::size_t W = V::size;
            V acc0(0.0f), acc1(0.0f);
            std::size_t i = 0;
            for (; i + 2 * W <= d; i += 2 * W) {
                acc0 = xsimd::fma(V::load_unaligned(q.f + i), V::load_unaligned(v + i), acc0);
                acc1 = xsimd::fma(V::load_unaligned(q.f + i + W), V::load_unaligned(v + i + W), acc1);
            }
            float s = xsimd::hadd(acc0 + acc1);
#else
            std::size_t i = 0;
            float s = 0.0f;
#endif
            for (; i < d; ++i) s += q.f[i] * v[i];
            return s;
        }
        const std::int8_t* v = &bytes_[row * d];
        std::int32_t s = 0;
        for (std::size_t i = 0; i < d; ++i) s += std::int32_t(q.q8[i]) * std::int32_t(v[i]);
        return float(s) * q.scale * scales_[row];
    }

    /// (dot, row) of the k largest dot products, largest first; ties by lower row.
    std::vector<std::pair<float, std::size_t>> top_k(const float* qf, std::size_t k, ThreadPool* pool) const {
        Query q{qf, {}, 1.0f};
        if (store_ == Store::Int8) {
            q.q8.resize(std::size_t(dim_));
            quantize(qf, dim_, q.q8.data(), q.scale);
        }
        const std::size_t n = owner_.size();
        k = std::min(k, n);
        if (k == 0) return {};
        constexpr std::size_t kChunk = 16384;
        const std::size_t chunks = (n + kChunk - 1) / kChunk;
        std::vector<std::vector<std::pair<float, std::size_t>>> partial(chunks);
        auto better = [](const std::pair<float, std::size_t>& a, const std::pair<float, std::size_t>& b) {
            return a.first != b.first ? a.first > b.first : a.second < b.second;
        };
        auto scan = [&](std::int64_t c) {
            auto& heap = partial[std::size_t(c)];  // a min-heap on `better`: the worst kept is on top
            heap.reserve(k + 1);
            const std::size_t r1 = std::min(n, std::size_t(c + 1) * kChunk);
            for (std::size_t r = std::size_t(c) * kChunk; r < r1; ++r) {
                std::pair<float, std::size_t> cand{dot(q, r), r};
                if (heap.size() < k) {
                    heap.push_back(cand);
                    std::push_heap(heap.begin(), heap.end(), better);
                } else if (better(cand, heap.front())) {
                    std::pop_heap(heap.begin(), heap.end(), better);
                    heap.back() = cand;
                    std::push_heap(heap.begin(), heap.end(), better);
                }
            }
        };
        if (pool) pool->parallel_for(std::int64_t(chunks), scan);
        else
            for (std::size_t c = 0; c < chunks; ++c) scan(std::int64_t(c));
        std::vector<std::pair<float, std::size_t>> all;
        for (auto& p : partial) all.insert(all.end(), p.begin(), p.end());
        std::partial_sort(all.begin(), all.begin() + std::ptrdiff_t(k), all.end(), better);
        all.resize(k);
        return all;
    }

    std::string model_;
    int dim_;
    Store store_;
    std::vector<std::string> names_;
    std::vector<std::uint32_t> owner_;  // identity of each row
    std::vector<float> floats_;         // rows × dim (Float store)
    std::vector<std::int8_t> bytes_;    // rows × dim (Int8 store)
    std::vector<float> scales_;         // per row (Int8 store)
};

}  // namespace facekit
