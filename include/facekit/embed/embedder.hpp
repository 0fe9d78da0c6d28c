// facekit/embed/embedder.hpp: from aligned face crops to L2-normalised embeddings.
//
// An Embedder knows its model's input size, embedding dimension, how to align a detected face for it,
// and its preprocessing ((v − 127.5)/128 for both models here). embed() runs crops in batches and can add
// the horizontally flipped crop (normalise(n(e(x)) + n(e(flip(x))))). The networks are shared read-only;
// an Embedder holds the scratch memory of its calls, so give each thread its own (clone()).
#pragma once
#include <memory>
#include <sys/stat.h>
#include <string>
#include <vector>

#include "inception_resnet_v1.hpp"
#include "mobilefacenet.hpp"
#include "../align/align.hpp"
#include "../types.hpp"
#include "../io/image.hpp"

namespace facekit {

/// An L2-normalised face embedding.
using Embedding = std::vector<float>;

struct EmbedderOptions {
    bool flip = false;      // add the mirrored crop's embedding
    std::size_t batch = 8;  // crops per forward pass
};

class Embedder {
public:
    virtual ~Embedder() = default;
    virtual std::string name() const = 0;
    virtual int input_size() const = 0;
    virtual int dim() const = 0;
    /// The crop this model reads for a face detected in `photo`.
    Image align(const Image& photo, const Detection& face) const {
        Image crop;
        align(photo, face, crop);
        return crop;
    }
    /// The same into `crop`, whose memory is reused (the 5-point alignment then allocates nothing).
    virtual void align(const Image& photo, const Detection& face, Image& crop) const = 0;
    /// A new embedder sharing this one's weights (for another thread).
    virtual std::unique_ptr<Embedder> clone() const = 0;
    /// Forward pass FLOPs for one crop.
    virtual double flops() const = 0;

    const EmbedderOptions& options() const noexcept { return options_; }
    void set_options(const EmbedderOptions& o) { options_ = o; }

    /// Embeddings of aligned crops (each input_size() square).
    std::vector<Embedding> embed(const std::vector<Image>& crops) {
        const int n = input_size();
        for (const Image& c : crops) check_crop(c);
        std::vector<Embedding> out(crops.size(), Embedding(std::size_t(dim()), 0.0f));
        const std::size_t batch = std::max<std::size_t>(1, options_.batch);
        for (int pass = 0; pass < (options_.flip ? 2 : 1); ++pass) {
            for (std::size_t b0 = 0; b0 < crops.size(); b0 += batch) {
                const std::size_t bn = std::min(batch, crops.size() - b0);
                Tensor& input = input_.tensor(0, Shape(std::int64_t(bn), n, n, 3));
                for (std::size_t i = 0; i < bn; ++i) standardize(crops[b0 + i], pass == 1, input.data() + i * std::size_t(n) * n * 3);
                ConstView e = run(input);
                for (std::size_t i = 0; i < bn; ++i)
                    for (int d = 0; d < dim(); ++d) out[b0 + i][std::size_t(d)] += e.pixel(i)[d];
            }
        }
        if (options_.flip)
            for (Embedding& e : out) normalize(e);
        return out;
    }
    Embedding embed(const Image& crop) {
        Embedding e;
        embed(crop, e);
        return e;
    }
    /// The embedding of one crop into `out`, whose memory is reused: after reserve(), with no thread pool,
    /// this allocates nothing.
    void embed(const Image& crop, Embedding& out) {
        const int n = input_size();
        check_crop(crop);
        out.assign(std::size_t(dim()), 0.0f);
        for (int pass = 0; pass < (options_.flip ? 2 : 1); ++pass) {
            Tensor& input = input_.tensor(0, Shape(1, n, n, 3));
            standardize(crop, pass == 1, input.data());
            const ConstView e = run(input);
            for (int d = 0; d < dim(); ++d) out[std::size_t(d)] += e.pixel(0)[d];
        }
        if (options_.flip) normalize(out);
    }
    /// Sizes the scratch memory for one crop at a time (a forward pass on a grey crop); `out` and `crop`,
    /// if given, get the memory embed(crop, out) and align(photo, face, crop) need.
    void reserve(Embedding* out = nullptr, Image* crop = nullptr) {
        const Image grey = blank_crop();
        Embedding e;
        embed(grey, e);
        if (out) out->reserve(std::size_t(dim()));
        if (crop) *crop = grey;
    }

    /// (v − 127.5)/128 into NHWC floats, mirrored left-right when `flip`.
    static void standardize(const Image& img, bool flip, float* dst) {
        for (int y = 0; y < img.height; ++y)
            for (int x = 0; x < img.width; ++x) {
                const std::uint8_t* p = img.at(flip ? img.width - 1 - x : x, y);
                for (int c = 0; c < 3; ++c) *dst++ = (float(p[c]) - 127.5f) / 128.0f;
            }
    }
    static void normalize(Embedding& e) { nn::l2_normalize(e.data(), e.size()); }

protected:
    void check_crop(const Image& c) const {
        const int n = input_size();
        if (c.width != n || c.height != n)
            FACEKIT_THROW(InvalidArgument(name() + " expects " + std::to_string(n) + "×" + std::to_string(n) + " crops, got " +
                                          std::to_string(c.width) + "×" + std::to_string(c.height)));
    }
    Image blank_crop() const {
        Image grey(input_size(), input_size());
        std::fill(grey.pixels.begin(), grey.pixels.end(), std::uint8_t(128));
        return grey;
    }
    /// The network on standardised input; returns N×1×1×dim, L2-normalised.
    virtual ConstView run(ConstView input) = 0;

    EmbedderOptions options_;
    Workspace input_;
};

/// An Embedder over one of the networks of embed/.
template <class Net>
class NetEmbedder : public Embedder {
public:
    NetEmbedder(std::shared_ptr<const Net> net, std::string name, ThreadPool* pool)
        : net_(std::move(net)), name_(std::move(name)), pool_(pool) {}

    std::string name() const override { return name_; }
    int input_size() const override { return Net::kInput; }
    int dim() const override { return Net::kDim; }
    double flops() const override { return net_->flops(Shape(1, Net::kInput, Net::kInput, 3)); }
    std::unique_ptr<Embedder> clone() const override {
        auto e = std::make_unique<NetEmbedder>(net_, name_, pool_);
        e->set_options(options_);
        return e;
    }
    using Embedder::align;
    void align(const Image& photo, const Detection& face, Image& crop) const override {
        static_assert(Net::kAlignment != Alignment::FivePoint || Net::kInput == 112,
                      "the 5-point template is the ArcFace one, for 112x112 inputs");
        if constexpr (Net::kAlignment == Alignment::MarginCrop) crop = crop_face(photo, face, Net::kInput, 0);
        else align_face(photo, face.landmarks, crop);
    }
    const Net& net() const noexcept { return *net_; }

protected:
    ConstView run(ConstView input) override { return net_->forward(input, ws_, Context{pool_, &ws_}); }

private:
    std::shared_ptr<const Net> net_;
    std::string name_;
    ThreadPool* pool_;
    Workspace ws_;
};

/// Whether load_embedder() accepts weights that the converter marked as a synthetic test checkpoint
/// (`__metadata__` "synthetic": "true"): random weights in a real network's layout, whose embeddings
/// identify nobody. Only tests and benchmarks, whose results do not depend on the values, allow them.
enum class SyntheticWeights { Refuse, Allow };

namespace detail {
inline Status open_embedder_weights(const std::string& model, const std::string& path, SyntheticWeights synthetic,
                                    SafeTensors& st) {
    struct stat sb {};
    if (model == "facenet" && ::stat(path.c_str(), &sb) != 0)
        return Status::file_error(path, "FaceNet is not installed: convert 20180402-114759-vggface2.pt from the facenet-pytorch "
                                        "releases with weights_converter/convert.py (see README.md, Weights)");
    Status s = SafeTensors::try_open(path, st);
    if (s && synthetic == SyntheticWeights::Refuse && st.metadata("synthetic") == "true")
        return Status::file_error(path, "is a synthetic test checkpoint (" + st.metadata("source") +
                                            "): its embeddings identify nobody; convert the real weights (README.md, Weights)");
    return s;
}

template <class Net>
Status load_net_embedder(const std::string& model, const std::string& path, SyntheticWeights synthetic, ThreadPool* pool,
                         std::unique_ptr<Embedder>& out) {
    SafeTensors st;
    Status s = open_embedder_weights(model, path, synthetic, st);
    if (!s) return s;
    auto net = std::make_shared<const Net>(st, &s);
    if (s) out = std::make_unique<NetEmbedder<Net>>(std::move(net), model, pool);
    return s;
}
}  // namespace detail

/// "facenet" (weights: facenet.safetensors) or "mobilefacenet" (mobilefacenet.safetensors) from
/// `models_dir`; `weights` overrides the file. The pool may be null (single thread). Never raises: a
/// missing or bad file, or an unknown model, is an error status, and `out` is left as it was.
inline Status try_load_embedder(const std::string& model, const std::string& models_dir, std::unique_ptr<Embedder>& out,
                                ThreadPool* pool = nullptr, const std::string& weights = "",
                                SyntheticWeights synthetic = SyntheticWeights::Refuse) {
    const std::string path = weights.empty() ? models_dir + "/" + model + ".safetensors" : weights;
    if (model == "facenet") return detail::load_net_embedder<models::InceptionResnetV1<>>(model, path, synthetic, pool, out);
    if (model == "mobilefacenet") return detail::load_net_embedder<models::MobileFaceNet<>>(model, path, synthetic, pool, out);
    return Status::invalid_argument("unknown model \"" + model + "\" (facenet or mobilefacenet)");
}

/// The same, raising FileError or InvalidArgument.
inline std::unique_ptr<Embedder> load_embedder(const std::string& model, const std::string& models_dir,
                                               ThreadPool* pool = nullptr, const std::string& weights = "",
                                               SyntheticWeights synthetic = SyntheticWeights::Refuse) {
    std::unique_ptr<Embedder> e;
    try_load_embedder(model, models_dir, e, pool, weights, synthetic).raise_if_error();
    return e;
}

/// Squared Euclidean distance between two embeddings.
inline float squared_distance(const Embedding& a, const Embedding& b) {
    if (a.size() != b.size()) FACEKIT_THROW(InvalidArgument("embeddings of different dimensions"));
    float s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

}  // namespace facekit
