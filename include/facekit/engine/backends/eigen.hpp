// facekit/engine/backends/eigen.hpp: convolution as im2col followed by Eigen's GEMM.
// This is the classic formulation (Caffe, early TensorFlow); it is here as a well-known baseline and to
// measure the micro-kernels against Eigen's own large-GEMM throughput. Rows are split across our thread
// pool (Eigen is used single-threaded: no OpenMP dependency).
#pragma once
#include "../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <Eigen/Core>

#include "../workspace.hpp"
#include "../conv_spec.hpp"

namespace facekit::nn {

struct EigenBackend {
    static constexpr const char* name = "eigen";
    static const char* isa() noexcept { return Eigen::SimdInstructionSetsInUse(); }

    struct PackedConv {
        ConvSpec spec;  // OHWI = a column-major K×cout matrix, which is what the GEMM reads
    };
    struct PackedDepthwise {
        DepthwiseSpec spec;
    };
    static PackedConv pack(ConvSpec s) { return s.validate(), PackedConv{std::move(s)}; }
    static PackedDepthwise pack(DepthwiseSpec s) { return s.validate(), PackedDepthwise{std::move(s)}; }

    static constexpr std::int64_t kRowsPerTask = 64;

    static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual, const Context& ctx) {
        using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using ColMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
        const ConvSpec& s = p.spec;
        const Window& win = s.window;
        if (!ctx.workspace) FACEKIT_THROW(InvalidArgument("eigen backend: convolution needs a workspace"));
        const std::int64_t m = std::int64_t(out.shape.pixels()), k = s.reduction();
        const int oh = out.shape.h, ow = out.shape.w;
        float* cols = ctx.workspace->scratch(kIm2colSlot, std::size_t(m) * k);
        Eigen::Map<const ColMajor> weights(s.weights.data(), k, s.cout);
        const std::int64_t tasks = (m + kRowsPerTask - 1) / kRowsPerTask;
        ctx.parallel_for(tasks, [&](std::int64_t task) {
            const std::int64_t r0 = task * kRowsPerTask, rn = std::min(kRowsPerTask, m - r0);
            for (std::int64_t mi = r0; mi < r0 + rn; ++mi) {  // im2col for this block of rows
                const int n = int(mi / (std::int64_t(oh) * ow)), rem = int(mi % (std::int64_t(oh) * ow));
                const int oy = rem / ow, ox = rem % ow;
                float* dst = cols + mi * k;
                for (int ky = 0; ky < win.kh; ++ky)
                    for (int kx = 0; kx < win.kw; ++kx, dst += s.cin) {
                        const int iy = oy * win.sh - win.pad_top + ky, ix = ox * win.sw - win.pad_left + kx;
                        if (iy < 0 || iy >= in.shape.h || ix < 0 || ix >= in.shape.w)
                            std::fill(dst, dst + s.cin, 0.0f);
                        else
                            std::copy(in.pixel(n, iy, ix), in.pixel(n, iy, ix) + s.cin, dst);
                    }
            }
            Eigen::Map<const RowMajor> a(cols + r0 * k, rn, k);
            Eigen::Map<RowMajor, 0, Eigen::OuterStride<>> c(out.pixel(std::size_t(r0)), rn, s.cout,
                                                            Eigen::OuterStride<>(out.stride));
            c.noalias() = a * weights;
            for (std::int64_t i = 0; i < rn; ++i) {
                float* row = out.pixel(std::size_t(r0 + i));
                const float* res = residual ? residual->pixel(std::size_t(r0 + i)) : nullptr;
                for (int co = 0; co < s.cout; ++co) row[co] = s.epilogue.apply(row[co], co, res);
            }
        });
    }

    static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
                          const Context& ctx) {
        using Vec = Eigen::Array<float, Eigen::Dynamic, 1>;
        const DepthwiseSpec& s = p.spec;
        const Window& win = s.window;
        const Shape o = out.shape;
        const int c = s.channels;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            thread_local Vec acc;
            acc.resize(c);
            for (int ox = 0; ox < o.w; ++ox) {
                acc.setZero();
                win.for_each_tap(oy, ox, in.shape.h, in.shape.w, [&](int t, int iy, int ix) {
                    acc += Eigen::Map<const Vec>(in.pixel(n, iy, ix), c) *
                           Eigen::Map<const Vec>(&s.weights[std::size_t(t) * c], c);
                });
                float* dst = out.pixel(n, oy, ox);
                const float* res = residual ? residual->pixel(n, oy, ox) : nullptr;
                for (int ch = 0; ch < c; ++ch) dst[ch] = s.epilogue.apply(acc[ch], ch, res);
            }
        });
    }

private:
    static constexpr std::size_t kIm2colSlot = 0;
};

}  // namespace facekit::nn
