// facekit/detect/mtcnn.hpp: the three MTCNN networks (Zhang et al. 2016) with facenet-pytorch's weights.
//
//   P-Net  12×12 window, fully convolutional: conv3×3(10) PReLU maxpool2 conv3×3(16) PReLU conv3×3(32) PReLU
//          → 1×1 heads: face probability (2, softmax) and box regression (4)
//   R-Net  24×24: conv3×3(28) PReLU maxpool3/2 conv3×3(48) PReLU maxpool3/2 conv2×2(64) PReLU dense(128) PReLU
//          → probability (2) and regression (4)
//   O-Net  48×48: conv3×3(32) PReLU maxpool3/2 conv3×3(64) PReLU maxpool3/2 conv3×3(64) PReLU maxpool2
//          conv2×2(128) PReLU dense(256) PReLU → probability (2), regression (4), landmarks (10)
//
// Pools use ceil_mode. Each network's heads read the same features, so they are fused into one layer
// whose output channels are [p_background, p_face, regression…, landmarks…]. Upstream flattens the last
// feature map in (W, H, C) order before its dense layer; we keep NHWC and permute the dense weights at load.
#pragma once
#include <memory>

#include "../engine/workspace.hpp"
#include "../engine/backends.hpp"
#include "../engine/layers.hpp"
#include "../engine/ops.hpp"
#include "../engine/weights.hpp"

namespace facekit::models {

namespace detail {
/// Reorders a dense layer's input columns from upstream's (W, H, C) flattening to our (H, W, C).
inline nn::ConvSpec dense_from_whc(nn::ConvSpec s, int h, int w, int c) {
    if (s.cin != h * w * c) FACEKIT_THROW(InvalidArgument("dense_from_whc: size mismatch"));
    if (s.prepacked) return s;  // the packed file holds the reordered weights
    std::vector<float> r(s.weights.size());
    for (int o = 0; o < s.cout; ++o)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int ch = 0; ch < c; ++ch)
                    r[std::size_t(o) * s.cin + (std::size_t(y) * w + x) * c + ch] =
                        s.weights[std::size_t(o) * s.cin + (std::size_t(x) * h + y) * c + ch];
    s.weights = std::move(r);
    return s;
}
/// Softmax over the first two channels (the face/background pair) of every row.
inline void softmax_pair(View out) { nn::softmax_channels(out.channels(0, 2)); }
/// Runs one layer into workspace slot `slot` and returns its output.
template <class Layer>
View apply(const Layer& layer, ConstView x, Workspace& ws, std::size_t slot, const Context& ctx) {
    Tensor& y = ws.tensor(slot, layer.output_shape(x.shape));
    layer.forward(x, y, ctx);
    return y.view();
}
/// The same view as an N×1×1×(h·w·c) tensor: the flattening before a dense layer (NHWC order).
inline ConstView flatten(ConstView x) { return ConstView(x.data, Shape(x.shape.n, 1, 1, std::int64_t(x.shape.h) * x.shape.w * x.shape.c)); }
}  // namespace detail

template <class B = nn::DefaultBackend>
class PNet {
public:
    static constexpr int kOutputs = 6;  // p_background, p_face, r0..r3
    /// Output pixel (y, x) sees input rows [2y, 2y+12) and columns [2x, 2x+12): the 12×12 window, stride 2.
    static constexpr int kWindow = 12, kStride = 2;
    /// `errors`: see WeightFile (null: a bad file raises).
    explicit PNet(const SafeTensors& st, Status* errors = nullptr) {
        WeightFile w(st, "pnet", errors, nn::packed_layout<B>());
        using nn::Window;
        stem_ = nn::ConvMaxPool2d<B>(with_prelu(w.conv("conv1", 3, 10, Window::square(3)), w, "prelu1.weight"),
                                     nn::MaxPool2d{Window::square(2, 2), true});
        conv2_ = nn::Conv2d<B>(with_prelu(w.conv("conv2", 10, 16, Window::square(3)), w, "prelu2.weight"));
        conv3_ = nn::Conv2d<B>(with_prelu(w.conv("conv3", 16, 32, Window::square(3)), w, "prelu3.weight"));
        heads_ = nn::Conv2d<B>(concat_outputs({w.conv("conv4_1", 32, 2, Window::square(1)),
                                               w.conv("conv4_2", 32, 4, Window::square(1))}));
        w.adopt_layers(*this);
    }
    /// Visits the layers that hold weights, in a fixed order (packed weights files: engine/prepacked.hpp).
    template <class F>
    void for_each_layer(F&& f) { f(stem_.conv()), f(conv2_), f(conv3_), f(heads_); }
    /// in: N×H×W×3, normalised as (v − 127.5)/128. Returns N×h×w×6 in `ws`.
    View forward(ConstView in, Workspace& ws, const Context& ctx) const {
        using detail::apply;
        View x = apply(stem_, in, ws, 1, ctx);  // conv1, PReLU and max pool in one pass where B can
        x = apply(conv2_, x, ws, 0, ctx);
        x = apply(conv3_, x, ws, 1, ctx);
        View out = apply(heads_, x, ws, 2, ctx);
        detail::softmax_pair(out);
        return out;
    }
    Shape output_shape(const Shape& in) const {
        return heads_.output_shape(conv3_.output_shape(conv2_.output_shape(stem_.output_shape(in))));
    }
    double flops(const Shape& in) const {
        Shape b = stem_.output_shape(in), c = conv2_.output_shape(b), d = conv3_.output_shape(c);
        return stem_.flops(in) + conv2_.flops(b) + conv3_.flops(c) + heads_.flops(d);
    }

private:
    nn::ConvMaxPool2d<B> stem_;
    nn::Conv2d<B> conv2_, conv3_, heads_;
};

template <class B = nn::DefaultBackend>
class RNet {
public:
    static constexpr int kInput = 24, kOutputs = 6;  // p_background, p_face, r0..r3
    /// `errors`: see WeightFile (null: a bad file raises).
    explicit RNet(const SafeTensors& st, Status* errors = nullptr) {
        WeightFile w(st, "rnet", errors, nn::packed_layout<B>());
        using nn::Window;
        stem_ = nn::ConvMaxPool2d<B>(with_prelu(w.conv("conv1", 3, 28, Window::square(3)), w, "prelu1.weight"), pool_.spec());
        conv2_ = nn::Conv2d<B>(with_prelu(w.conv("conv2", 28, 48, Window::square(3)), w, "prelu2.weight"));
        conv3_ = nn::Conv2d<B>(with_prelu(w.conv("conv3", 48, 64, Window::square(2)), w, "prelu3.weight"));
        dense4_ = nn::Conv2d<B>(with_prelu(detail::dense_from_whc(w.linear("dense4", 576, 128), 3, 3, 64), w, "prelu4.weight"));
        heads_ = nn::Conv2d<B>(concat_outputs({w.linear("dense5_1", 128, 2), w.linear("dense5_2", 128, 4)}));
        w.adopt_layers(*this);
    }
    template <class F>
    void for_each_layer(F&& f) { f(stem_.conv()), f(conv2_), f(conv3_), f(dense4_), f(heads_); }
    /// in: N×24×24×3 normalised. Returns N×1×1×6 in `ws`.
    View forward(ConstView in, Workspace& ws, const Context& ctx) const {
        using detail::apply;
        View x = apply(stem_, in, ws, 1, ctx);  // conv1, PReLU and max pool in one pass where B can
        x = apply(conv2_, x, ws, 0, ctx);
        x = apply(pool_, x, ws, 1, ctx);
        x = apply(conv3_, x, ws, 0, ctx);
        x = apply(dense4_, detail::flatten(x), ws, 1, ctx);
        View out = apply(heads_, x, ws, 2, ctx);
        detail::softmax_pair(out);
        return out;
    }

private:
    nn::MaxPool<B> pool_{nn::MaxPool2d{nn::Window::square(3, 2), true}};
    nn::ConvMaxPool2d<B> stem_;
    nn::Conv2d<B> conv2_, conv3_, dense4_, heads_;
};

template <class B = nn::DefaultBackend>
class ONet {
public:
    static constexpr int kInput = 48, kOutputs = 16;  // p_background, p_face, r0..r3, x0..x4, y0..y4
    /// `errors`: see WeightFile (null: a bad file raises).
    explicit ONet(const SafeTensors& st, Status* errors = nullptr) {
        WeightFile w(st, "onet", errors, nn::packed_layout<B>());
        using nn::Window;
        stem_ = nn::ConvMaxPool2d<B>(with_prelu(w.conv("conv1", 3, 32, Window::square(3)), w, "prelu1.weight"), pool3_.spec());
        conv2_ = nn::Conv2d<B>(with_prelu(w.conv("conv2", 32, 64, Window::square(3)), w, "prelu2.weight"));
        conv3_ = nn::Conv2d<B>(with_prelu(w.conv("conv3", 64, 64, Window::square(3)), w, "prelu3.weight"));
        conv4_ = nn::Conv2d<B>(with_prelu(w.conv("conv4", 64, 128, Window::square(2)), w, "prelu4.weight"));
        dense5_ = nn::Conv2d<B>(with_prelu(detail::dense_from_whc(w.linear("dense5", 1152, 256), 3, 3, 128), w, "prelu5.weight"));
        heads_ = nn::Conv2d<B>(concat_outputs({w.linear("dense6_1", 256, 2), w.linear("dense6_2", 256, 4),
                                               w.linear("dense6_3", 256, 10)}));
        w.adopt_layers(*this);
    }
    template <class F>
    void for_each_layer(F&& f) { f(stem_.conv()), f(conv2_), f(conv3_), f(conv4_), f(dense5_), f(heads_); }
    /// in: N×48×48×3 normalised. Returns N×1×1×16 in `ws`.
    View forward(ConstView in, Workspace& ws, const Context& ctx) const {
        using detail::apply;
        View x = apply(stem_, in, ws, 1, ctx);  // conv1, PReLU and max pool in one pass where B can
        x = apply(conv2_, x, ws, 0, ctx);
        x = apply(pool3_, x, ws, 1, ctx);
        x = apply(conv3_, x, ws, 0, ctx);
        x = apply(pool2_, x, ws, 1, ctx);
        x = apply(conv4_, x, ws, 0, ctx);
        x = apply(dense5_, detail::flatten(x), ws, 1, ctx);
        View out = apply(heads_, x, ws, 2, ctx);
        detail::softmax_pair(out);
        return out;
    }

private:
    nn::MaxPool<B> pool3_{nn::MaxPool2d{nn::Window::square(3, 2), true}};
    nn::MaxPool<B> pool2_{nn::MaxPool2d{nn::Window::square(2, 2), true}};
    nn::ConvMaxPool2d<B> stem_;
    nn::Conv2d<B> conv2_, conv3_, conv4_, dense5_, heads_;
};

/// The three networks, loaded once and shared read-only (by any number of detectors and threads).
template <class B = nn::DefaultBackend>
struct MtcnnNets {
    PNet<B> pnet;
    RNet<B> rnet;
    ONet<B> onet;

    MtcnnNets(const SafeTensors& p, const SafeTensors& r, const SafeTensors& o, Status* errors = nullptr)
        : pnet(p, errors), rnet(r, errors), onet(o, errors) {}
    /// Loads pnet/rnet/onet.safetensors from a models directory. Raises FileError.
    static std::shared_ptr<const MtcnnNets> load(const std::string& models_dir) {
        std::shared_ptr<const MtcnnNets> nets;
        try_load(models_dir, nets).raise_if_error();
        return nets;
    }
    /// The same without raising: a missing or bad file is an error status naming it, and `out` is unchanged.
    static Status try_load(const std::string& models_dir, std::shared_ptr<const MtcnnNets>& out) {
        SafeTensors p, r, o;
        Status s = SafeTensors::try_open(models_dir + "/pnet.safetensors", p);
        if (s) s = SafeTensors::try_open(models_dir + "/rnet.safetensors", r);
        if (s) s = SafeTensors::try_open(models_dir + "/onet.safetensors", o);
        if (!s) return s;
        auto nets = std::make_shared<const MtcnnNets>(p, r, o, &s);
        if (s) out = std::move(nets);
        return s;
    }
};

}  // namespace facekit::models
