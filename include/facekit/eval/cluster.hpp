// facekit/eval/cluster.hpp: grouping embeddings into people, and scoring a grouping.
//
// dbscan: on the squared-distance matrix, as facenet's contributed cluster.py uses sklearn's DBSCAN
//   (metric="precomputed"): a point with at least min_samples points (itself included) within eps is a
//   core point; clusters grow from core points in index order; points in no cluster are noise (−1).
// chinese_whispers: as dlib's chinese_whispers: a graph joining points closer than the threshold, every
//   node starts in its own class and, in random order for a number of iterations, takes the class with
//   the largest total edge weight among its neighbours (here weight 1). Deterministic for a given seed.
// pairwise_scores: precision and recall over all pairs of items (a pair is positive when both share a
//   label), with F1 — noise points count as singletons.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "../engine/error.hpp"
#include "metrics.hpp"

namespace facekit::eval {

/// Cluster labels 0, 1, … in order of first appearance; −1 for noise.
inline std::vector<int> dbscan(const std::vector<double>& dist, std::size_t n, double eps, std::size_t min_samples) {
    if (dist.size() != n * n) FACEKIT_THROW(InvalidArgument("dbscan: distance matrix is not n × n"));
    std::vector<std::vector<std::size_t>> neighbours(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
            if (dist[i * n + j] <= eps) neighbours[i].push_back(j);
    std::vector<int> label(n, -1);
    int next = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (label[i] != -1 || neighbours[i].size() < min_samples) continue;
        label[i] = next;
        std::vector<std::size_t> stack{i};
        while (!stack.empty()) {
            const std::size_t p = stack.back();
            stack.pop_back();
            if (neighbours[p].size() < min_samples) continue;  // border point: does not expand
            for (std::size_t q : neighbours[p])
                if (label[q] == -1) label[q] = next, stack.push_back(q);
        }
        ++next;
    }
    return label;
}

inline std::vector<int> chinese_whispers(const std::vector<double>& dist, std::size_t n, double threshold,
                                         int iterations = 100, std::uint64_t seed = 0) {
    if (dist.size() != n * n) FACEKIT_THROW(InvalidArgument("chinese_whispers: distance matrix is not n × n"));
    std::vector<std::vector<std::size_t>> edges(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
            if (i != j && dist[i * n + j] < threshold) edges[i].push_back(j);
    std::vector<int> label(n);
    std::iota(label.begin(), label.end(), 0);
    std::mt19937_64 rng(seed);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    for (int it = 0; it < iterations; ++it) {
        std::shuffle(order.begin(), order.end(), rng);
        bool changed = false;
        for (std::size_t i : order) {
            if (edges[i].empty()) continue;
            std::map<int, int> votes;
            for (std::size_t j : edges[i]) votes[label[j]]++;
            auto best = std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; });
            if (best->first != label[i]) label[i] = best->first, changed = true;
        }
        if (!changed) break;
    }
    std::map<int, int> renumber;  // 0, 1, … in order of first appearance
    for (int& l : label) l = renumber.emplace(l, int(renumber.size())).first->second;
    return label;
}

struct PairwiseScores {
    double precision = 0, recall = 0, f1 = 0;
};
/// Pairwise precision/recall/F1 of predicted clusters against true labels (−1 = noise = alone).
inline PairwiseScores pairwise_scores(const std::vector<int>& predicted, const std::vector<int>& truth) {
    if (predicted.size() != truth.size()) FACEKIT_THROW(InvalidArgument("pairwise_scores: label counts differ"));
    std::size_t tp = 0, fp = 0, fn = 0;
    for (std::size_t i = 0; i < truth.size(); ++i)
        for (std::size_t j = i + 1; j < truth.size(); ++j) {
            const bool same_pred = predicted[i] != -1 && predicted[i] == predicted[j];
            const bool same_true = truth[i] == truth[j];
            tp += same_pred && same_true, fp += same_pred && !same_true, fn += !same_pred && same_true;
        }
    PairwiseScores s;
    s.precision = tp + fp ? double(tp) / double(tp + fp) : 1.0;
    s.recall = tp + fn ? double(tp) / double(tp + fn) : 1.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

/// One triplet of row indices into a batch of embeddings.
struct Triplet {
    std::size_t anchor, positive, negative;
};

/// FaceNet's online triplet selection on a labelled batch: every anchor–positive pair of an identity, each
/// with a negative chosen at random among the semi-hard ones (farther than the positive but within the
/// margin: d(a,p) < d(a,n) < d(a,p) + α); pairs without a semi-hard negative are skipped. Deterministic
/// for a given seed.
inline std::vector<Triplet> select_triplets(const std::vector<double>& dist, const std::vector<int>& labels,
                                            double alpha = 0.2, std::uint64_t seed = 0) {
    const std::size_t n = labels.size();
    if (dist.size() != n * n) FACEKIT_THROW(InvalidArgument("select_triplets: distance matrix is not n × n"));
    std::mt19937_64 rng(seed);
    std::vector<Triplet> out;
    std::vector<std::size_t> candidates;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t p = a + 1; p < n; ++p) {
            if (labels[p] != labels[a]) continue;
            const double dap = dist[a * n + p];
            candidates.clear();
            for (std::size_t k = 0; k < n; ++k)
                if (labels[k] != labels[a] && dist[a * n + k] > dap && dist[a * n + k] < dap + alpha) candidates.push_back(k);
            if (candidates.empty()) continue;
            out.push_back({a, p, candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng)]});
        }
    return out;
}

}  // namespace facekit::eval
