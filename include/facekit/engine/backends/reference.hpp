// facekit/engine/backends/reference.hpp: the reference backend. Plain loops in the order the maths is written;
// every faster backend is tested against it.
#pragma once
#include "../workspace.hpp"
#include "../conv_spec.hpp"

namespace facekit::nn {

struct ReferenceBackend {
    static constexpr const char* name = "scalar";
    static const char* isa() noexcept { return "none"; }

    /// Backends may reorder weights at load; the reference keeps ConvSpec as it is.
    struct PackedConv {
        ConvSpec spec;
    };
    struct PackedDepthwise {
        DepthwiseSpec spec;
    };
    static PackedConv pack(ConvSpec s) { return s.validate(), PackedConv{std::move(s)}; }
    static PackedDepthwise pack(DepthwiseSpec s) { return s.validate(), PackedDepthwise{std::move(s)}; }

    /// out = epilogue(conv(in)), with an optional residual of out's shape.
    static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual, const Context& ctx) {
        const ConvSpec& s = p.spec;
        const Window& win = s.window;
        const Shape o = out.shape;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            for (int ox = 0; ox < o.w; ++ox) {
                float* dst = out.pixel(n, oy, ox);
                const float* res = residual ? residual->pixel(n, oy, ox) : nullptr;
                for (int co = 0; co < s.cout; ++co) {
                    float acc = 0.0f;
                    win.for_each_tap(oy, ox, in.shape.h, in.shape.w, [&](int t, int iy, int ix) {
                        const float* src = in.pixel(n, iy, ix);
                        const float* w = &s.weights[(std::size_t(co) * win.taps() + t) * s.cin];
                        for (int ci = 0; ci < s.cin; ++ci) acc += src[ci] * w[ci];
                    });
                    dst[co] = s.epilogue.apply(acc, co, res);
                }
            }
        });
    }

    static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
                          const Context& ctx) {
        const DepthwiseSpec& s = p.spec;
        const Window& win = s.window;
        const Shape o = out.shape;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            for (int ox = 0; ox < o.w; ++ox) {
                float* dst = out.pixel(n, oy, ox);
                const float* res = residual ? residual->pixel(n, oy, ox) : nullptr;
                for (int c = 0; c < s.channels; ++c) {
                    float acc = 0.0f;
                    win.for_each_tap(oy, ox, in.shape.h, in.shape.w, [&](int t, int iy, int ix) {
                        acc += in.pixel(n, iy, ix)[c] * s.weights[std::size_t(t) * s.channels + c];
                    });
                    dst[c] = s.epilogue.apply(acc, c, res);
                }
            }
        });
    }
};

}  // namespace facekit::nn
