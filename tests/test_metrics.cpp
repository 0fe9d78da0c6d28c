// Verification metrics against hand-computed cases and against ../shared/reference/metrics (the values
// davidsandberg/facenet's protocol computes on fixed embedding pairs), to 1e-9.
#include "facekit/eval/metrics.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::eval;
using namespace facekit::test;

namespace {
void check_close(const std::vector<double>& got, const Json& want, const char* what) {
    REQUIRE(got.size() == want.array().size());
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i].number()));
    CAPTURE(what);
    CHECK(worst <= 1e-9);
}
void check_result(const VerificationResult& r, const Json& want) {
    CHECK(std::abs(r.accuracy - want.at("accuracy").number()) <= 1e-9);
    CHECK(std::abs(r.accuracy_std - want.at("accuracy_std").number()) <= 1e-9);
    CHECK(std::abs(r.val - want.at("val").number()) <= 1e-9);
    CHECK(std::abs(r.val_std - want.at("val_std").number()) <= 1e-9);
    CHECK(std::abs(r.far - want.at("far").number()) <= 1e-9);
    CHECK(std::abs(r.auc - want.at("auc").number()) <= 1e-9);
    CHECK(std::abs(r.eer - want.at("eer").number()) <= 1e-9);
    check_close(r.accuracy_folds, want.at("accuracy_folds"), "accuracy_folds");
    check_close(r.best_threshold_folds, want.at("best_threshold_folds"), "best_threshold_folds");
    check_close(r.val_folds, want.at("val_folds"), "val_folds");
    check_close(r.val_threshold_folds, want.at("val_threshold_folds"), "val_threshold_folds");
    check_close(r.tpr, want.at("tpr"), "tpr");
    check_close(r.fpr, want.at("fpr"), "fpr");
}
struct Pairs {
    std::vector<float> e1, e2;
    std::vector<double> dist;
    std::vector<std::uint8_t> same;
};
Pairs load_pairs() {
    auto st = SafeTensors::open(shared("reference/metrics/pairs.safetensors"));
    Pairs p;
    p.e1 = st.floats("embeddings1", {6000, 64});
    p.e2 = st.floats("embeddings2", {6000, 64});
    const TensorInfo& d = st.at("distance_sq_euclidean");
    p.dist.resize(6000);
    std::memcpy(p.dist.data(), d.bytes, d.nbytes);
    const TensorInfo& s = st.at("issame");
    p.same.assign(s.bytes, s.bytes + s.nbytes);
    return p;
}
}  // namespace

TEST_CASE("distances and triplet loss on hand-computed cases") {
    const float a[2] = {1, 0}, b[2] = {0, 1}, c[2] = {1, 0};
    CHECK(squared_euclidean(a, b, 2) == 2.0);
    CHECK(cosine_distance(a, b, 2) == doctest::Approx(0.5));
    CHECK(cosine_distance(a, c, 2) == 0.0);
    auto m = distance_matrix(std::vector<float>{0, 0, 3, 4, 0, 1}.data(), 3, 2);
    CHECK(m == std::vector<double>{0, 25, 1, 25, 0, 18, 1, 18, 0});
    // anchor (0,0), positive (1,0) at 1, negatives at 4 (inactive) and at 1.1 (active: 1 − 1.1 + 0.2 = 0.1)
    const float an[4] = {0, 0, 0, 0}, po[4] = {1, 0, 1, 0}, ne[4] = {2, 0, 0, std::sqrt(1.1f)};
    TripletLoss t = triplet_loss(an, po, ne, 2, 2, 0.2);
    CHECK(t.loss == doctest::Approx(0.1 / 2).epsilon(1e-6));
    CHECK(t.active_fraction == 0.5);
}

TEST_CASE("the protocol on a hand-computed toy set") {
    // 4 pairs in 2 folds of 2.
    std::vector<double> dist = {0.5, 1.5, 0.4, 2.5};
    std::vector<std::uint8_t> same = {1, 0, 1, 0};
    VerificationOptions o;
    o.folds = 2;
    auto r = evaluate_distances(dist, same, o);
    // fold 0 tests pairs 0-1 with the best threshold of pairs 2-3: the first t with 0.4 < t <= 2.5 is 0.41
    CHECK(r.best_threshold_folds[0] == doctest::Approx(0.41));
    CHECK(r.best_threshold_folds[1] == doctest::Approx(0.51));
    // fold 0: pair 0 (same, 0.5) is not below 0.41 -> wrong; pair 1 right. fold 1: both right.
    CHECK(r.accuracy_folds == std::vector<double>{0.5, 1.0});
    CHECK(r.accuracy == 0.75);
    CHECK(r.accuracy_std == 0.25);
    CHECK(r.auc == doctest::Approx(1.0));
    CHECK(r.eer == doctest::Approx(0.0));
}

TEST_CASE("squared Euclidean protocol matches the reference to 1e-9") {
    Pairs p = load_pairs();
    Json want = load_json(shared("reference/metrics/expected.json"));
    // from the stored float64 distances, and recomputed from the embeddings
    check_result(evaluate_distances(p.dist, p.same), want.at("euclidean"));
    check_result(evaluate_verification(p.e1.data(), p.e2.data(), 6000, 64, p.same), want.at("euclidean"));
}

TEST_CASE("cosine distance with mean subtraction matches the reference to 1e-9") {
    Pairs p = load_pairs();
    Json want = load_json(shared("reference/metrics/expected.json"));
    VerificationOptions o;
    o.cosine = true, o.subtract_mean = true;
    check_result(evaluate_verification(p.e1.data(), p.e2.data(), 6000, 64, p.same, o), want.at("cosine_subtract_mean"));
}

#include "facekit/eval/cluster.hpp"

TEST_CASE("DBSCAN and Chinese whispers on a hand-made distance matrix") {
    // points 0,1,2 close together; 3,4 close; 5 alone
    const std::size_t n = 6;
    std::vector<double> d(n * n, 3.0);
    auto link = [&](std::size_t i, std::size_t j, double v) { d[i * n + j] = d[j * n + i] = v; };
    for (std::size_t i = 0; i < n; ++i) d[i * n + i] = 0;
    link(0, 1, 0.2), link(1, 2, 0.3), link(0, 2, 0.6), link(3, 4, 0.4);
    CHECK(dbscan(d, n, 0.5, 2) == std::vector<int>{0, 0, 0, 1, 1, -1});
    CHECK(dbscan(d, n, 0.5, 3) == std::vector<int>{0, 0, 0, -1, -1, -1});  // 3,4 have 2 neighbours each
    CHECK(chinese_whispers(d, n, 0.5) == std::vector<int>{0, 0, 0, 1, 1, 2});
    auto s = pairwise_scores({0, 0, 0, 1, 1, 2}, {0, 0, 0, 1, 1, 2});
    CHECK(s.f1 == 1.0);
    // predicted pairs (0,1) right, (2,3) wrong; 6 true pairs: tp 1, fp 1, fn 5
    s = pairwise_scores({0, 0, 1, 1, -1, -1}, {0, 0, 0, 1, 1, 1});
    CHECK(s.precision == 0.5);
    CHECK(s.recall == doctest::Approx(1.0 / 6.0));
    CHECK(s.f1 == doctest::Approx(2 * 0.5 / 6.0 / (0.5 + 1.0 / 6.0)));
}

TEST_CASE("semi-hard triplet selection follows the FaceNet rule") {
    // identity 0: rows 0,1 (distance 0.5); identity 1: rows 2 (0.6 from 0: semi-hard), 3 (0.9: too far)
    const std::size_t n = 4;
    std::vector<double> d = {0, 0.5, 0.6, 0.9,  //
                             0.5, 0, 1.0, 0.4,  //
                             0.6, 1.0, 0, 0.3,  //
                             0.9, 0.4, 0.3, 0};
    REQUIRE(d.size() == n * n);
    auto t = select_triplets(d, {0, 0, 1, 1}, 0.2, 1);
    // (0,1): negatives with 0.5 < d < 0.7 from 0 -> row 2. (2,3): from 2, 0.3 < d < 0.5 -> none (1.0, 0.6)
    REQUIRE(t.size() == 1);
    CHECK(t[0].anchor == 0);
    CHECK(t[0].positive == 1);
    CHECK(t[0].negative == 2);
}
