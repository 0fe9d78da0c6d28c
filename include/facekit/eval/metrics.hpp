// facekit/eval/metrics.hpp: distances, triplet loss and the LFW verification protocol of
// davidsandberg/facenet (lfw.evaluate), rule for rule:
//  - folds: contiguous blocks (KFold without shuffling);
//  - accuracy: thresholds 0, 0.01, …, 3.99; the first threshold with the best training-fold accuracy is
//    applied to the test fold; "same" when distance < threshold; mean and population std over folds;
//  - VAL@FAR: thresholds 0, 0.001, …, 3.999; the training-fold FAR curve, keeping for each distinct FAR the
//    largest threshold giving it, is interpolated linearly at the target (0 when the FAR never reaches it);
//  - ROC: per-threshold TPR/FPR of the test folds, averaged over folds; AUC by the trapezoid rule;
//    EER where 1 − x = TPR(x) on the linearly interpolated ROC;
//  - optional cosine distance arccos(cos)/π and subtraction of the training folds' mean embedding.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../engine/error.hpp"

namespace facekit::eval {

inline double squared_euclidean(const float* a, const float* b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return s;
}
/// arccos(cosine similarity) / π, in [0, 1].
inline double cosine_distance(const float* a, const float* b, int dim) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < dim; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    const double c = std::max(-1.0, std::min(1.0, ab / std::sqrt(aa * bb)));
    return std::acos(c) / M_PI;
}

/// All pairwise squared Euclidean distances of n row vectors (n × n, row-major).
inline std::vector<double> distance_matrix(const float* x, std::size_t n, int dim) {
    std::vector<double> d(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) d[i * n + j] = d[j * n + i] = squared_euclidean(x + i * dim, x + j * dim, dim);
    return d;
}

/// FaceNet's triplet loss: mean over triplets of max(‖a−p‖² − ‖a−n‖² + α, 0), and the fraction of
/// triplets with a positive loss ("active").
struct TripletLoss {
    double loss = 0, active_fraction = 0;
};
inline TripletLoss triplet_loss(const float* anchors, const float* positives, const float* negatives, std::size_t n,
                                int dim, double alpha = 0.2) {
    if (n == 0) FACEKIT_THROW(InvalidArgument("triplet_loss: no triplets"));
    TripletLoss r;
    std::size_t active = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double l = squared_euclidean(anchors + i * dim, positives + i * dim, dim) -
                         squared_euclidean(anchors + i * dim, negatives + i * dim, dim) + alpha;
        if (l > 0) r.loss += l, ++active;
    }
    r.loss /= double(n);
    r.active_fraction = double(active) / double(n);
    return r;
}

struct VerificationOptions {
    int folds = 10;
    bool cosine = false;         // arccos(cos)/π instead of squared Euclidean
    bool subtract_mean = false;  // subtract the training folds' mean embedding first
    double far_target = 1e-3;
};

struct VerificationResult {
    std::vector<double> accuracy_folds, best_threshold_folds, val_folds, val_threshold_folds, far_folds;
    std::vector<double> thresholds, tpr, fpr;  // the ROC (accuracy grid)
    double accuracy = 0, accuracy_std = 0, val = 0, val_std = 0, far = 0, auc = 0, eer = 0;
};

namespace detail {
inline std::vector<double> grid(double step, std::size_t n) {
    std::vector<double> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = double(i) * step;  // numpy.arange(0, 4, step)
    return g;
}
struct Rates {
    double tpr, fpr, acc;
};
/// TPR, FPR and accuracy of "same when distance < t" over pairs [b, e) (excluding [xb, xe)).
inline Rates rates(const std::vector<double>& dist, const std::vector<std::uint8_t>& same, double t,
                   const std::vector<std::size_t>& idx) {
    std::size_t tp = 0, fp = 0, tn = 0, fn = 0;
    for (std::size_t i : idx) {
        const bool p = dist[i] < t;
        if (same[i]) (p ? tp : fn)++;
        else (p ? fp : tn)++;
    }
    return {tp + fn ? double(tp) / double(tp + fn) : 0.0, fp + tn ? double(fp) / double(fp + tn) : 0.0,
            double(tp + tn) / double(idx.size())};
}
inline double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / double(v.size());
}
inline double population_std(const std::vector<double>& v) {
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size()));
}
/// VAL and FAR at threshold t over the pairs in idx.
inline std::pair<double, double> val_far(const std::vector<double>& dist, const std::vector<std::uint8_t>& same, double t,
                                         const std::vector<std::size_t>& idx) {
    std::size_t ta = 0, fa = 0, ns = 0, nd = 0;
    for (std::size_t i : idx) {
        const bool p = dist[i] < t;
        if (same[i]) ++ns, ta += p;
        else ++nd, fa += p;
    }
    return {ns ? double(ta) / double(ns) : 0.0, nd ? double(fa) / double(nd) : 0.0};
}
/// The threshold at FAR = target on the training folds (see the protocol above).
inline double threshold_at_far(const std::vector<double>& dist, const std::vector<std::uint8_t>& same,
                               const std::vector<std::size_t>& train, const std::vector<double>& thresholds, double target) {
    std::vector<double> fars(thresholds.size());
    double max_far = 0;
    for (std::size_t k = 0; k < thresholds.size(); ++k) {
        fars[k] = val_far(dist, same, thresholds[k], train).second;
        max_far = std::max(max_far, fars[k]);
    }
    if (max_far < target) return 0.0;
    // FAR is non-decreasing in the threshold: for each distinct FAR keep the largest threshold.
    std::vector<std::pair<double, double>> curve;  // (far, threshold), far strictly increasing
    for (std::size_t k = 0; k < thresholds.size(); ++k) {
        if (!curve.empty() && curve.back().first == fars[k]) curve.back().second = thresholds[k];
        else curve.emplace_back(fars[k], thresholds[k]);
    }
    for (std::size_t k = 1; k < curve.size(); ++k)
        if (curve[k].first >= target) {
            const auto [f0, t0] = curve[k - 1];
            const auto [f1, t1] = curve[k];
            return t0 + (target - f0) * (t1 - t0) / (f1 - f0);
        }
    return curve.front().second;  // target equals the smallest FAR
}
/// Equal error rate: the x in [0, 1] with 1 − x = TPR(x), TPR linearly interpolated over FPR (for a run
/// of equal FPR values the segment to their right starts from the last of them, as scipy's interp1d).
inline double equal_error_rate(const std::vector<double>& fpr, const std::vector<double>& tpr) {
    std::vector<std::size_t> order(fpr.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return fpr[a] < fpr[b]; });
    auto g = [&](double x, double y) { return 1.0 - x - y; };
    for (std::size_t k = 0; k + 1 < order.size(); ++k) {
        const double x0 = fpr[order[k]], x1 = fpr[order[k + 1]];
        if (x1 <= x0) continue;
        const double y0 = tpr[order[k]], y1 = tpr[order[k + 1]];
        // segment from the last point at x0 to the first at x1
        const double g0 = g(x0, y0), g1 = g(x1, y1);
        if (g0 >= 0 && g1 <= 0) {
            if (g0 == g1) return x0;
            return x0 + (x1 - x0) * g0 / (g0 - g1);
        }
    }
    FACEKIT_THROW(InvalidArgument("equal_error_rate: the ROC does not cross 1 − FPR"));
}
}  // namespace detail

namespace detail {
/// The protocol over n pairs; fill(train, dist) computes the distances for one fold's split.
template <class FillDistances>
VerificationResult evaluate(std::size_t n, const std::vector<std::uint8_t>& same, const VerificationOptions& opt,
                            FillDistances&& fill) {
    if (same.size() != n) FACEKIT_THROW(InvalidArgument("verification: labels and pairs differ in count"));
    if (opt.folds < 2 || std::size_t(opt.folds) > n) FACEKIT_THROW(InvalidArgument("verification: bad fold count"));
    const std::vector<double> acc_grid = grid(0.01, 400), val_grid = grid(0.001, 4000);
    VerificationResult r;
    r.thresholds = acc_grid;
    r.tpr.assign(acc_grid.size(), 0.0), r.fpr.assign(acc_grid.size(), 0.0);
    std::vector<double> dist(n);
    for (int f = 0; f < opt.folds; ++f) {
        // sklearn's KFold(shuffle=False): contiguous folds, the first n % folds one pair longer
        auto bound = [&](int k) {
            const std::size_t base = n / std::size_t(opt.folds), extra = n % std::size_t(opt.folds);
            return std::size_t(k) * base + std::min<std::size_t>(std::size_t(k), extra);
        };
        std::vector<std::size_t> train, test;
        for (std::size_t i = 0; i < n; ++i) (i >= bound(f) && i < bound(f + 1) ? test : train).push_back(i);
        fill(train, dist);
        std::size_t best = 0;
        double best_acc = -1;
        for (std::size_t k = 0; k < acc_grid.size(); ++k) {
            const double acc = rates(dist, same, acc_grid[k], train).acc;
            if (acc > best_acc) best_acc = acc, best = k;  // the first maximum
        }
        for (std::size_t k = 0; k < acc_grid.size(); ++k) {
            const Rates rt = rates(dist, same, acc_grid[k], test);
            r.tpr[k] += rt.tpr / opt.folds, r.fpr[k] += rt.fpr / opt.folds;
        }
        r.best_threshold_folds.push_back(acc_grid[best]);
        r.accuracy_folds.push_back(rates(dist, same, acc_grid[best], test).acc);
        const double t = threshold_at_far(dist, same, train, val_grid, opt.far_target);
        const auto vf = val_far(dist, same, t, test);
        r.val_threshold_folds.push_back(t), r.val_folds.push_back(vf.first), r.far_folds.push_back(vf.second);
    }
    r.accuracy = mean(r.accuracy_folds), r.accuracy_std = population_std(r.accuracy_folds);
    r.val = mean(r.val_folds), r.val_std = population_std(r.val_folds), r.far = mean(r.far_folds);
    for (std::size_t k = 1; k < r.fpr.size(); ++k) r.auc += (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2;
    r.eer = equal_error_rate(r.fpr, r.tpr);
    return r;
}
}  // namespace detail

/// The protocol on precomputed distances (one per pair).
inline VerificationResult evaluate_distances(const std::vector<double>& dist, const std::vector<std::uint8_t>& same,
                                             const VerificationOptions& opt = {}) {
    if (opt.subtract_mean) FACEKIT_THROW(InvalidArgument("verification: mean subtraction needs the embeddings"));
    return detail::evaluate(dist.size(), same, opt, [&](const std::vector<std::size_t>&, std::vector<double>& d) { d = dist; });
}

/// The protocol on embedding pairs (n × dim each), with optional cosine distance and mean subtraction.
inline VerificationResult evaluate_verification(const float* e1, const float* e2, std::size_t n, int dim,
                                                const std::vector<std::uint8_t>& same, const VerificationOptions& opt = {}) {
    bool computed = false;
    return detail::evaluate(n, same, opt, [&](const std::vector<std::size_t>& train, std::vector<double>& dist) {
        if (computed && !opt.subtract_mean) return;  // the same for every fold
        computed = true;
        std::vector<double> mean(std::size_t(dim), 0.0);
        if (opt.subtract_mean) {
            for (std::size_t i : train)
                for (int d = 0; d < dim; ++d) mean[std::size_t(d)] += double(e1[i * dim + d]) + double(e2[i * dim + d]);
            for (double& m : mean) m /= double(2 * train.size());
        }
        std::vector<float> a(static_cast<std::size_t>(dim)), b(static_cast<std::size_t>(dim));
        for (std::size_t i = 0; i < n; ++i) {
            for (int d = 0; d < dim; ++d) {
                a[std::size_t(d)] = float(e1[i * dim + d] - mean[std::size_t(d)]);
                b[std::size_t(d)] = float(e2[i * dim + d] - mean[std::size_t(d)]);
            }
            dist[i] = opt.cosine ? cosine_distance(a.data(), b.data(), dim) : squared_euclidean(a.data(), b.data(), dim);
        }
    });
}

}  // namespace facekit::eval
