// facekit/embed/inception_resnet_v1.hpp: FaceNet's Inception-ResNet-v1 (Szegedy et al. 2016; Schroff et al.
// 2015) with facenet-pytorch's checkpoint layout (20180402-114759-vggface2.pt and its kin).
//
//   160×160×3 ─ stem: 3×3/2(32) 3×3(32) 3×3(64) maxpool3/2 1×1(80) 3×3(192) 3×3/2(256) ─ 17×17×256
//   5 × Block35 (scale 0.17) ─ Mixed-6a ─ 8×8×896 ─ 10 × Block17 (0.10) ─ Mixed-7a ─ 3×3×1792
//   5 × Block8 (0.20) ─ Block8 (1.0, no ReLU) ─ global average ─ linear 1792→512 + BatchNorm ─ L2 norm
//
// Every BasicConv2d (conv, BatchNorm eps 1e-3, ReLU) is one convolution with the BatchNorm folded in. A
// residual block is relu(x + scale · conv1×1(concat(branches))), and its conv1×1 applies the residual in its
// epilogue. The branches' leading 1×1 convolutions read the same input, so they run as one fused layer.
// Branch outputs are written straight into their channel slice of the concatenation.
#pragma once
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "../align/align.hpp"
#include "../engine/workspace.hpp"
#include "../engine/backends.hpp"
#include "../engine/layers.hpp"
#include "../engine/ops.hpp"
#include "../engine/weights.hpp"

namespace facekit::models {

/// One convolution of a branch: output channels, kernel, stride, padding.
struct ConvShape {
    int cout, kh, kw, stride = 1, ph = 0, pw = 0;
    nn::Window window() const { return nn::Window{kh, kw, stride, stride, ph, pw, ph, pw}; }
};
/// A branch: a chain of BasicConv2d (module index i is "branchN.i", or "branchN" for a single conv).
using Branch = std::vector<ConvShape>;

/// The three residual block types, as in the architecture diagram.
struct ResidualShape {
    int width;
    std::vector<Branch> branches;
};
inline const ResidualShape kBlock35{256, {{{32, 1, 1}}, {{32, 1, 1}, {32, 3, 3, 1, 1, 1}}, {{32, 1, 1}, {32, 3, 3, 1, 1, 1}, {32, 3, 3, 1, 1, 1}}}};
inline const ResidualShape kBlock17{896, {{{128, 1, 1}}, {{128, 1, 1}, {128, 1, 7, 1, 0, 3}, {128, 7, 1, 1, 3, 0}}}};
inline const ResidualShape kBlock8{1792, {{{192, 1, 1}}, {{192, 1, 1}, {192, 1, 3, 1, 0, 1}, {192, 3, 1, 1, 1, 0}}}};

/// The two reduction blocks: convolution branches plus a 3×3/2 max-pool branch, concatenated.
struct ReductionShape {
    int width;
    std::vector<Branch> branches;
};
inline const ReductionShape kMixed6a{256, {{{384, 3, 3, 2}}, {{192, 1, 1}, {192, 3, 3, 1, 1, 1}, {256, 3, 3, 2}}}};
inline const ReductionShape kMixed7a{896, {{{256, 1, 1}, {384, 3, 3, 2}}, {{256, 1, 1}, {256, 3, 3, 2}},
                                           {{256, 1, 1}, {256, 3, 3, 1, 1, 1}, {256, 3, 3, 2}}}};

namespace detail {
/// BasicConv2d "prefix": conv (no bias) + BatchNorm (eps 1e-3) + ReLU as one convolution.
inline nn::ConvSpec basic_conv(const WeightFile& w, const std::string& prefix, int cin, const ConvShape& c) {
    nn::ConvSpec s = w.conv(prefix + ".conv", cin, c.cout, c.window(), /*bias=*/false);
    const std::vector<std::int64_t> n{c.cout};
    nn::fold_batchnorm(s, w.get(prefix + ".bn.weight", n), w.get(prefix + ".bn.bias", n),
                       w.get(prefix + ".bn.running_mean", n), w.get(prefix + ".bn.running_var", n), 1e-3f);
    s.epilogue.activation = nn::Activation::ReLU;
    return s;
}
inline std::string conv_name(const std::string& block, std::size_t b, std::size_t i, std::size_t len) {
    return block + ".branch" + std::to_string(b) + (len > 1 ? "." + std::to_string(i) : "");
}
inline bool pointwise(const ConvShape& c) { return c.kh == 1 && c.kw == 1 && c.stride == 1; }

/// The workspace slots a block uses while it runs (blocks run one at a time: they all share one set).
struct BlockSlots {
    std::size_t concat, fused, chain[2];
    static BlockSlots acquire(SlotAllocator& a) {
        BlockSlots s{};
        s.concat = a.acquire(), s.fused = a.acquire(), s.chain[0] = a.acquire(), s.chain[1] = a.acquire();
        return s;
    }
};

/// Branches of convolutions whose leading 1×1 layers are fused; each branch ends in a channel slice of
/// the output. Shared by the residual and the reduction blocks.
template <class B>
class Branches {
public:
    Branches(const WeightFile& w, const std::string& block, int width, const std::vector<Branch>& branches,
             const BlockSlots& slots)
        : slots_(slots) {
        std::vector<nn::ConvSpec> leading;
        int out_offset = 0;
        for (std::size_t b = 0; b < branches.size(); ++b) {
            const Branch& br = branches[b];
            Chain chain;
            chain.out_offset = out_offset;
            chain.out_channels = br.back().cout;
            std::size_t first = 0;
            if (pointwise(br[0])) {  // goes into the fused leading layer
                chain.fused_offset = fused_channels_;
                chain.fused_channels = br[0].cout;
                fused_channels_ += br[0].cout;
                leading.push_back(basic_conv(w, conv_name(block, b, 0, br.size()), width, br[0]));
                first = 1;
            }
            int cin = first ? br[0].cout : width;
            for (std::size_t i = first; i < br.size(); ++i) {
                chain.convs.emplace_back(basic_conv(w, conv_name(block, b, i, br.size()), cin, br[i]));
                cin = br[i].cout;
            }
            out_offset += chain.out_channels;
            chains_.push_back(std::move(chain));
        }
        out_channels_ = out_offset;
        if (!leading.empty()) fused_ = nn::Conv2d<B>(concat_outputs(leading));
    }
    int out_channels() const noexcept { return out_channels_; }
    /// Spatial output size (all branches agree).
    Shape output_shape(const Shape& in) const {
        const Chain& c = chains_[0];
        Shape s = c.fused_channels ? Shape(in.n, in.h, in.w, c.fused_channels) : in;
        for (auto& conv : c.convs) s = conv.output_shape(s);
        return Shape(s.n, s.h, s.w, out_channels_);
    }
    /// Writes the branches into channels [offset, offset + out_channels()) of `out`.
    void forward(ConstView in, View out, Workspace& ws, const Context& ctx) const {
        View fused;
        if (fused_channels_) {
            Tensor& f = ws.tensor(slots_.fused, Shape(in.shape.n, in.shape.h, in.shape.w, fused_channels_));
            fused_.forward(in, f, ctx);
            fused = f.view();
        }
        for (const Chain& c : chains_) {
            View dst = out.channels(c.out_offset, c.out_channels);
            ConstView cur = c.fused_channels ? ConstView(fused.channels(c.fused_offset, c.fused_channels)) : in;
            if (c.convs.empty()) {  // a lone 1×1 branch: its result is already in the fused output
                copy_channels(cur, dst);
                continue;
            }
            for (std::size_t i = 0; i < c.convs.size(); ++i) {
                const bool last = i + 1 == c.convs.size();
                Shape s = c.convs[i].output_shape(cur.shape);
                View target = last ? dst : ws.tensor(slots_.chain[i & 1], s).view();
                c.convs[i].forward(cur, target, ctx);
                cur = target;
            }
        }
    }
    double flops(const Shape& in) const {
        double f = fused_channels_ ? fused_.flops(in) : 0.0;
        for (const Chain& c : chains_) {
            Shape s = c.fused_channels ? Shape(in.n, in.h, in.w, c.fused_channels) : in;
            for (auto& conv : c.convs) f += conv.flops(s), s = conv.output_shape(s);
        }
        return f;
    }

private:
    struct Chain {
        int fused_offset = 0, fused_channels = 0, out_offset = 0, out_channels = 0;
        std::vector<nn::Conv2d<B>> convs;
    };
    static void copy_channels(ConstView src, View dst) {
        for (std::size_t p = 0; p < src.shape.pixels(); ++p)
            std::copy(src.pixel(p), src.pixel(p) + src.shape.c, dst.pixel(p));
    }
    BlockSlots slots_;
    std::vector<Chain> chains_;
    nn::Conv2d<B> fused_;
    int fused_channels_ = 0, out_channels_ = 0;
};
}  // namespace detail

/// Block35 / Block17 / Block8: out = act(x + scale · conv1×1(concat(branches))).
template <class B>
class ResidualBlock {
public:
    ResidualBlock(const WeightFile& w, const std::string& name, const ResidualShape& shape, float scale, bool relu,
                  const detail::BlockSlots& slots)
        : branches_(w, name, shape.width, shape.branches, slots), concat_slot_(slots.concat) {
        nn::ConvSpec up = w.conv(name + ".conv2d", branches_.out_channels(), shape.width, nn::Window::square(1));
        up.epilogue.residual_scale = scale;
        up.epilogue.activation = relu ? nn::Activation::ReLU : nn::Activation::None;
        up_ = nn::Conv2d<B>(up);
    }
    void forward(ConstView x, View out, Workspace& ws, const Context& ctx) const {
        Tensor& cat = ws.tensor(concat_slot_, Shape(x.shape.n, x.shape.h, x.shape.w, branches_.out_channels()));
        branches_.forward(x, cat, ws, ctx);
        up_.forward(cat, out, ctx, &x);
    }
    double flops(const Shape& in) const {
        return branches_.flops(in) + up_.flops(Shape(in.n, in.h, in.w, branches_.out_channels()));
    }

private:
    detail::Branches<B> branches_;
    std::size_t concat_slot_;
    nn::Conv2d<B> up_;
};

/// Mixed-6a / Mixed-7a: convolution branches and a max-pool branch, concatenated.
template <class B>
class ReductionBlock {
public:
    ReductionBlock(const WeightFile& w, const std::string& name, const ReductionShape& shape,
                   const detail::BlockSlots& slots)
        : branches_(w, name, shape.width, shape.branches, slots), width_(shape.width) {}
    int out_channels() const noexcept { return branches_.out_channels() + width_; }
    Shape output_shape(const Shape& in) const {
        Shape s = branches_.output_shape(in);
        return Shape(s.n, s.h, s.w, out_channels());
    }
    void forward(ConstView x, View out, Workspace& ws, const Context& ctx) const {
        branches_.forward(x, out, ws, ctx);
        pool_.forward(x, out.channels(branches_.out_channels(), width_), ctx);
    }
    double flops(const Shape& in) const { return branches_.flops(in); }

private:
    detail::Branches<B> branches_;
    int width_;
    nn::MaxPool<B> pool_{nn::MaxPool2d{nn::Window::square(3, 2), false}};
};

template <class B = nn::DefaultBackend>
class InceptionResnetV1 {
public:
    static constexpr int kInput = 160, kDim = 512;
    static constexpr Alignment kAlignment = Alignment::MarginCrop;  // trained on facenet-pytorch's crops
    /// Called with (name, activation) after each module facenet-pytorch names, for inspection and tests.
    using Observer = std::function<void(const std::string&, ConstView)>;

    /// `errors`: see WeightFile (null: a bad file raises).
    explicit InceptionResnetV1(const SafeTensors& st, Status* errors = nullptr) {
        WeightFile w(st, "inception_resnet_v1", errors);
        const std::pair<const char*, ConvShape> stem[] = {
            {"conv2d_1a", {32, 3, 3, 2}}, {"conv2d_2a", {32, 3, 3}}, {"conv2d_2b", {64, 3, 3, 1, 1, 1}},
            {"conv2d_3b", {80, 1, 1}},    {"conv2d_4a", {192, 3, 3}}, {"conv2d_4b", {256, 3, 3, 2}}};
        int cin = 3;
        for (auto& [name, shape] : stem) {
            stem_.emplace_back(detail::basic_conv(w, name, cin, shape));
            stem_names_.push_back(name);
            cin = shape.cout;
        }
        // slots: the two a layer's input and output alternate in, the embedding's, and the blocks' set
        SlotAllocator slots;
        ping_ = {slots.acquire(), slots.acquire()};
        embedding_slot_ = slots.acquire();
        const detail::BlockSlots b = detail::BlockSlots::acquire(slots);
        for (int i = 0; i < 5; ++i) repeat1_.emplace_back(w, "repeat_1." + std::to_string(i), kBlock35, 0.17f, true, b);
        mixed6a_.emplace_back(w, "mixed_6a", kMixed6a, b);
        for (int i = 0; i < 10; ++i) repeat2_.emplace_back(w, "repeat_2." + std::to_string(i), kBlock17, 0.10f, true, b);
        mixed7a_.emplace_back(w, "mixed_7a", kMixed7a, b);
        for (int i = 0; i < 5; ++i) repeat3_.emplace_back(w, "repeat_3." + std::to_string(i), kBlock8, 0.20f, true, b);
        block8_.emplace_back(w, "block8", kBlock8, 1.0f, false, b);
        nn::ConvSpec lin = w.linear("last_linear", 1792, kDim, /*bias=*/false);
        const std::vector<std::int64_t> n{kDim};
        nn::fold_batchnorm(lin, w.get("last_bn.weight", n), w.get("last_bn.bias", n), w.get("last_bn.running_mean", n),
                           w.get("last_bn.running_var", n), 1e-3f);
        last_ = nn::Conv2d<B>(lin);
    }

    /// in: N×160×160×3 standardised as (v − 127.5)/128. Returns N×1×1×512, L2-normalised, in `ws`.
    View forward(ConstView in, Workspace& ws, const Context& ctx, const Observer& observe = nullptr) const {
        if (in.shape.h != kInput || in.shape.w != kInput || in.shape.c != 3)
            FACEKIT_THROW(InvalidArgument("InceptionResnetV1 expects N×160×160×3 input, got " + in.shape.to_string()));
        auto note = [&](const char* name, ConstView v) {
            if (observe) observe(name, v);
        };
        ConstView x = in;
        std::size_t ping = 0;
        auto next = [&](Shape s) -> Tensor& { return ws.tensor(ping_[ping ^= 1], s); };
        for (std::size_t i = 0; i < stem_.size(); ++i) {
            Tensor& y = next(stem_[i].output_shape(x.shape));
            stem_[i].forward(x, y, ctx);
            x = y.view();
            note(stem_names_[i], x);
            if (i == 2) {  // maxpool_3a after conv2d_2b
                Tensor& p = next(pool_.output_shape(x.shape));
                pool_.forward(x, p, ctx);
                x = p.view();
                note("maxpool_3a", x);
            }
        }
        auto residual = [&](const auto& blocks, const char* name) {
            for (auto& b : blocks) {
                Tensor& y = next(x.shape);
                b.forward(x, y, ws, ctx);
                x = y.view();
            }
            note(name, x);
        };
        auto reduction = [&](const ReductionBlock<B>& b, const char* name) {
            Tensor& y = next(b.output_shape(x.shape));
            b.forward(x, y, ws, ctx);
            x = y.view();
            note(name, x);
        };
        residual(repeat1_, "repeat_1");
        reduction(mixed6a_[0], "mixed_6a");
        residual(repeat2_, "repeat_2");
        reduction(mixed7a_[0], "mixed_7a");
        residual(repeat3_, "repeat_3");
        residual(block8_, "block8");
        Tensor& pooled = next(Shape(x.shape.n, 1, 1, x.shape.c));
        nn::GlobalAvgPool{}.forward(x, pooled, ctx);
        note("avgpool_1a", pooled.view());
        Tensor& emb = ws.tensor(embedding_slot_, Shape(x.shape.n, 1, 1, kDim));
        last_.forward(pooled, emb, ctx);
        note("last_bn", emb.view());
        nn::l2_normalize(emb);
        return emb.view();
    }

    double flops(const Shape& in) const {
        double f = 0;
        Shape s = in;
        for (std::size_t i = 0; i < stem_.size(); ++i) {
            f += stem_[i].flops(s);
            s = stem_[i].output_shape(s);
            if (i == 2) s = pool_.output_shape(s);
        }
        for (auto& b : repeat1_) f += b.flops(s);
        f += mixed6a_[0].flops(s), s = mixed6a_[0].output_shape(s);
        for (auto& b : repeat2_) f += b.flops(s);
        f += mixed7a_[0].flops(s), s = mixed7a_[0].output_shape(s);
        for (auto& b : repeat3_) f += b.flops(s);
        f += block8_[0].flops(s);
        return f + last_.flops(Shape(in.n, 1, 1, 1792));
    }

private:
    std::vector<nn::Conv2d<B>> stem_;
    std::vector<const char*> stem_names_;
    nn::MaxPool<B> pool_{nn::MaxPool2d{nn::Window::square(3, 2), false}};
    std::vector<ResidualBlock<B>> repeat1_, repeat2_, repeat3_, block8_;
    std::vector<ReductionBlock<B>> mixed6a_, mixed7a_;
    nn::Conv2d<B> last_;
    std::array<std::size_t, 2> ping_{};
    std::size_t embedding_slot_ = 0;
};

}  // namespace facekit::models
