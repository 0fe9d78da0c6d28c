// facekit/engine/backends/reference_qs8.hpp: int8 convolution in plain loops, the definition every int8
// kernel is tested against, bit for bit (the arithmetic is in ../quant.hpp).
#pragma once
#include "../quant.hpp"
#include "../workspace.hpp"

namespace facekit::nn {

struct ReferenceQs8 {
    /// out = epilogue(Σ taps·channels (in − zp_in)·w): int32 accumulation; taps in the padding read the
    /// zero point, so they add nothing.
    static void conv(const QConvSpec& s, QConstView in, QView out, const QConstView* residual) {
        const Window& win = s.window;
        const Shape o = out.shape;
        for (int n = 0; n < o.n; ++n)
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    std::int8_t* dst = out.pixel(n, oy, ox);
                    const std::int8_t* res = residual ? residual->pixel(n, oy, ox) : nullptr;
                    for (int co = 0; co < s.cout; ++co) {
                        std::int32_t acc = 0;
                        win.for_each_tap(oy, ox, in.shape.h, in.shape.w, [&](int t, int iy, int ix) {
                            const std::int8_t* src = in.pixel(n, iy, ix);
                            const std::int8_t* w = &s.weights[(std::size_t(co) * win.taps() + t) * s.cin];
                            for (int ci = 0; ci < s.cin; ++ci) acc += (std::int32_t(src[ci]) - s.input.zero_point) * w[ci];
                        });
                        dst[co] = s.epilogue.apply(acc, co, res);
                    }
                }
    }
};

}  // namespace facekit::nn
