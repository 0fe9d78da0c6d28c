// facekit/detect/detector.hpp: the MTCNN detector, step for step as facenet-pytorch's detect_face
// (commit 787da06). ../shared/reference/mtcnn/NOTES.md lists the details this reproduces; section numbers
// below refer to it. Box arithmetic is float32 with every product rounded before it is added, as PyTorch
// evaluates it: a fused multiply-add would move boxes across the floor() and trunc() that follow.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "mtcnn.hpp"
#include "../types.hpp"
#include "../io/image.hpp"
#include "nms.hpp"
#include "../io/resample.hpp"

namespace facekit {

struct DetectorOptions {
    int min_face = 20;                       // smallest face side, in pixels
    std::array<float, 3> thresholds{0.6f, 0.7f, 0.7f};  // P-, R- and O-Net face probability
    double factor = 0.709;                   // scale step of the image pyramid
    std::size_t max_candidates = 20000;      // windows passed to R-Net at most (the best-scoring are kept)
    std::size_t max_faces = 10000;           // faces returned at most (the largest are kept)
    // Pixels of all pyramid levels together, checked before anything is allocated. The first level is the
    // photo scaled by 12 / min_face, so a small min_face on a large photo asks for enormous levels
    // (--min-face 1 on 8000×6000: 6.9 G pixels). P-Net's maps take 6 bytes per level pixel: the default,
    // 120 M, is about 720 MB, and admits a 100 MP photo at the default min_face (about 72 M).
    std::int64_t max_pyramid_pixels = 120'000'000;
    // Work units, sized so that a unit's activations stay in a core's L2 cache: P-Net runs on bands of
    // this many output rows, R- and O-Net on batches of this many windows. Each thread takes whole units.
    int pnet_band_rows = 32;
    std::size_t rnet_batch = 8, onet_batch = 8;  // 8 R-Net windows: ~400 windows end more evenly on two threads

    void validate() const {
        if (min_face < 1) FACEKIT_THROW(InvalidArgument("min face size must be at least 1 pixel"));
        for (float t : thresholds)
            if (!(t >= 0.0f && t <= 1.0f)) FACEKIT_THROW(InvalidArgument("detection thresholds must lie in [0, 1]"));
        if (!(factor > 0.0 && factor < 1.0)) FACEKIT_THROW(InvalidArgument("pyramid factor must lie in (0, 1)"));
        if (max_pyramid_pixels < 1) FACEKIT_THROW(InvalidArgument("the pyramid pixel limit must be positive"));
        if (max_candidates == 0 || pnet_band_rows <= 0 || rnet_batch == 0 || onet_batch == 0)
            FACEKIT_THROW(InvalidArgument("candidate cap, band rows and batches must be positive"));
    }
};

/// Time spent in each stage of the last detect() call, in milliseconds, and the windows each later stage
/// received (the work of R- and O-Net grows with them).
struct StageTimes {
    double pnet = 0, rnet = 0, onet = 0;
    std::size_t rnet_windows = 0, onet_windows = 0;
    double total() const noexcept { return pnet + rnet + onet; }
};

namespace detail {
struct Window {
    float x1, y1, x2, y2, score;
    float reg[4];
    float landmarks[10];
};

/// The scale pyramid (§1): repeated double multiplications, exactly as upstream.
inline void pyramid_scales(int width, int height, int min_face, double factor, std::vector<double>& scales) {
    scales.clear();
    const double m = 12.0 / min_face;
    double minl = std::min(height, width) * m, scale = m;
    while (minl >= 12) {
        scales.push_back(scale);
        scale *= factor;
        minl *= factor;
    }
}
inline std::vector<double> pyramid_scales(int width, int height, int min_face, double factor) {
    std::vector<double> scales;
    pyramid_scales(width, height, min_face, factor, scales);
    return scales;
}

/// torchvision's nms (§8): IoU with areas without +1; removed when IoU > threshold (compared in double).
inline std::vector<int> nms_iou(const std::vector<Window>& w, double threshold) {
    return greedy_nms(w, Overlap::IoU, threshold);
}

/// facenet-pytorch's nms_numpy with the "Min" criterion (§7): +1 areas, overlap = inter / min(areas);
/// a window survives while overlap <= threshold (compared in float32, as numpy does).
inline std::vector<int> nms_min(const std::vector<Window>& w, float threshold) {
    return greedy_nms(w, Overlap::Min, threshold);
}

/// Keeps the windows NMS kept, in its order (both vectors keep their memory).
inline void keep_only(std::vector<Window>& w, const std::vector<int>& idx, std::vector<Window>& scratch) {
    scratch.clear();
    for (int i : idx) scratch.push_back(w[std::size_t(i)]);
    w.swap(scratch);
}

/// Makes windows square around their centre (rerec, §4).
inline void make_square(std::vector<Window>& ws) {
    for (Window& w : ws) {
        const float h = w.y2 - w.y1, wd = w.x2 - w.x1, l = std::max(wd, h);
        w.x1 = w.x1 + wd * 0.5f - l * 0.5f;
        w.y1 = w.y1 + h * 0.5f - l * 0.5f;
        w.x2 = w.x1 + l;
        w.y2 = w.y1 + l;
    }
}

/// Box regression with the +1 window size (bbreg, §6).
inline void regress_plus1(Window& w) {
    const float wd = w.x2 - w.x1 + 1.0f, h = w.y2 - w.y1 + 1.0f;
    const float x1 = w.x1 + mul(w.reg[0], wd), y1 = w.y1 + mul(w.reg[1], h);
    const float x2 = w.x2 + mul(w.reg[2], wd), y2 = w.y2 + mul(w.reg[3], h);
    w.x1 = x1, w.y1 = y1, w.x2 = x2, w.y2 = y2;
}

/// float → int truncation toward zero, saturating (boxes far outside the image stay far outside).
inline int trunc_int(float v) {
    if (!(v > -1e9f)) return -1000000000;
    if (v > 1e9f) return 1000000000;
    return int(v);
}

/// The crop region of a window (pad, §5): truncated, clamped to [1, W] × [1, H] as 1-based inclusive
/// ranges, returned as a 0-based half-open rectangle. Returns false for a window with no pixels.
inline bool crop_rect(const Window& w, int width, int height, PixelRect& r) {
    int x = trunc_int(w.x1), y = trunc_int(w.y1), ex = trunc_int(w.x2), ey = trunc_int(w.y2);
    x = std::max(x, 1), y = std::max(y, 1), ex = std::min(ex, width), ey = std::min(ey, height);
    if (!(ey > y - 1 && ex > x - 1)) return false;
    r = PixelRect{x - 1, y - 1, ex, ey};
    return true;
}
}  // namespace detail

/// Finds faces with MTCNN. The networks are shared (read-only); a Detector holds the scratch memory of
/// its calls, so give each thread its own Detector (they are cheap: copy one).
template <class B = nn::DefaultBackend>
class Detector {
public:
    using Nets = models::MtcnnNets<B>;

    explicit Detector(std::shared_ptr<const Nets> nets, DetectorOptions options = {}, ThreadPool* pool = nullptr)
        : nets_(std::move(nets)), options_(options), pool_(pool) {
        if (!nets_) FACEKIT_THROW(InvalidArgument("Detector: no networks"));
        options_.validate();
    }
    Detector(const Detector& o) : nets_(o.nets_), options_(o.options_), pool_(o.pool_) {}

    const DetectorOptions& options() const noexcept { return options_; }
    const StageTimes& last_times() const noexcept { return times_; }

    /// Faces in `img`, largest box area first (facenet-pytorch's MTCNN(keep_all=True) order).
    std::vector<Detection> detect(const Image& img) {
        std::vector<Detection> faces;
        detect(img, faces);
        return faces;
    }
    /// The same into `faces` (cleared first), whose memory is reused: after reserve(), a detector without
    /// a thread pool finds the faces of any image within the reserved size without touching the heap.
    void detect(const Image& img, std::vector<Detection>& faces) {
        if (img.empty()) FACEKIT_THROW(InvalidArgument("detect: empty image"));
        faces.clear();
        times_ = StageTimes{};
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        sampler_.build(img, pool_);
        stage1(img);
        auto t1 = clock::now();
        const std::size_t rnet_windows = windows_.size();
        if (!windows_.empty()) stage2(img);
        auto t2 = clock::now();
        const std::size_t onet_windows = windows_.size();
        if (!windows_.empty()) stage3(img, faces);
        auto t3 = clock::now();
        auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
        times_ = StageTimes{ms(t0, t1), ms(t1, t2), ms(t2, t3), rnet_windows, onet_windows};
    }

    /// A batch of images; each result is what detect() gives for that image.
    std::vector<std::vector<Detection>> detect(const std::vector<Image>& images) {
        std::vector<std::vector<Detection>> out;
        out.reserve(images.size());
        StageTimes sum;
        for (const Image& img : images) {
            out.push_back(detect(img));
            sum.pnet += times_.pnet, sum.rnet += times_.rnet, sum.onet += times_.onet;
            sum.rnet_windows += times_.rnet_windows, sum.onet_windows += times_.onet_windows;
        }
        times_ = sum;
        return out;
    }

    /// Sizes all scratch memory for images of at most max_width × max_height pixels (either way round),
    /// and `faces` for the most faces detect() returns, so that detect(img, faces) then allocates nothing:
    /// the pyramid's maps and candidate lists for their largest possible counts, the networks' activations
    /// for the largest band and batch (by running each once on zeros), the image table and the resampler.
    /// Without a thread pool the guarantee is complete (tests/test_allocations.cpp counts); with one, the
    /// kernels' per-thread buffers of the pool's workers still grow on their first use.
    void reserve(int max_width, int max_height, std::vector<Detection>* faces = nullptr) {
        if (max_width < 1 || max_height < 1) FACEKIT_THROW(InvalidArgument("reserve: the size must be positive"));
        // the largest pyramid of either orientation: same scales, same map pixels
        detail::pyramid_scales(max_width, max_height, options_.min_face, options_.factor, scales_);
        levels_.reserve(scales_.size());
        while (maps_.size() < scales_.size()) maps_.emplace_back();
        std::size_t map_pixels = 0, largest_map = 0, bands = 0;
        for (std::size_t i = 0; i < scales_.size(); ++i) {
            const int hs = int(max_height * scales_[i] + 1), ws = int(max_width * scales_[i] + 1);
            const Shape level(1, hs, ws, 3);  // turned a quarter: the same pixels, the same map pixels
            const Shape map = nets_->pnet.output_shape(level);
            maps_[i].reshape(map);
            map_pixels += std::size_t(map.h) * map.w, largest_map = std::max(largest_map, std::size_t(map.h) * map.w);
            // bands of either orientation: those of the longer side are the more
            bands += std::size_t((std::max(map.h, map.w) + options_.pnet_band_rows - 1) / options_.pnet_band_rows);
        }
        bands_.reserve(bands);
        found_.reserve(largest_map);
        windows_.reserve(map_pixels), spare_.reserve(map_pixels);
        nms_.reserve(map_pixels);
        const std::size_t candidates = std::min(options_.max_candidates, map_pixels);
        rects_.reserve(candidates), rows_.reserve(candidates * models::ONet<B>::kOutputs);
        faces_.reserve(candidates), order_.reserve(candidates), area_.reserve(candidates);
        if (faces) faces->reserve(std::min(options_.max_faces, candidates));
        // every lane's activations, for the largest P-Net band and full R- and O-Net batches
        // the widest level (none when the image is smaller than the smallest face)
        const int side = scales_.empty() ? 1 : std::max(int(max_height * scales_.front() + 1), int(max_width * scales_.front() + 1));
        const std::size_t lanes = std::size_t(pool_ ? pool_->size() : 1);
        while (lanes_.size() < lanes) lanes_.emplace_back();
        for (Lane& lane : lanes_) {
            // P-Net on every level's first band (the largest) and last band, both ways round: the kernels a
            // shape selects (Winograd F(4×4) or F(3×3), row tiles, direct) keep per-thread buffers of their own
            for (double sc : scales_)
                for (const auto& [h, w] : {std::pair{max_height, max_width}, std::pair{max_width, max_height}}) {
                    const Shape level(1, int(h * sc + 1), int(w * sc + 1), 3);
                    const int map_h = nets_->pnet.output_shape(level).h, rows = options_.pnet_band_rows;
                    const int last_y0 = (map_h - 1) / rows * rows;
                    warm(nets_->pnet, lane, Shape(1, band_input_rows(0, std::min(map_h, rows), map_h, level.h), level.w, 3));
                    warm(nets_->pnet, lane, Shape(1, band_input_rows(last_y0, map_h, map_h, level.h), level.w, 3));
                }
            warm(nets_->rnet, lane, Shape(std::int64_t(options_.rnet_batch), 24, 24, 3));
            warm(nets_->onet, lane, Shape(std::int64_t(options_.onet_batch), 48, 48, 3));
        }
        // the image table and the resampler's rows, on a blank image of the largest size, its longer side
        // across (the table's size does not depend on the orientation; the rows' scratch does)
        const Image blank(std::max(max_width, max_height), std::min(max_width, max_height));
        sampler_.build(blank, pool_);
        Tensor& row = lanes_.front().input.tensor(1, Shape(1, 1, side, 3));
        sampler_.resize_normalized(PixelRect{0, 0, blank.width, blank.height}, side, side, row.data(), 0, 1);
        sampler_.forget();  // the blank image goes; the table keeps its memory
    }

private:
    /// Scratch memory of one thread: the activations of the net it runs, and its input batch.
    struct Lane {
        Workspace net, input;
    };

    /// The input rows P-Net reads for output rows [y0, y1) of a map_h-row map over a level_h-row image:
    /// output row y reads rows [2y, 2y+12); the last band runs to the image's end (ceil-mode pooling).
    static int band_input_rows(int y0, int y1, int map_h, int level_h) {
        using PNet = models::PNet<B>;
        return (y1 == map_h ? level_h : PNet::kStride * (y1 - 1) + PNet::kWindow) - PNet::kStride * y0;
    }

    /// Runs `net` once on zeros of `shape` in `lane`, so that its workspace holds that shape's activations.
    template <class Net>
    static void warm(const Net& net, Lane& lane, Shape shape) {
        Tensor& input = lane.input.tensor(0, shape);
        std::fill(input.data(), input.data() + input.size(), 0.0f);
        (void)net.forward(input, lane.net, Context{nullptr, &lane.net});
    }

    /// Runs work(lane, unit) for every unit in [0, units), each thread taking the next unit as it gets free.
    /// A unit runs a whole network on one thread, with no synchronisation inside it; which thread runs a
    /// unit never changes its result.
    template <class F>
    void for_each_unit(std::size_t units, F&& work) {
        if (units == 0) return;
        const int lanes = int(std::min<std::size_t>(units, std::size_t(pool_ ? pool_->size() : 1)));
        while (lanes_.size() < std::size_t(lanes)) lanes_.emplace_back();
        std::atomic<std::size_t> next{0};
        Context{pool_, nullptr}.parallel_for(lanes, [&](std::int64_t lane) {
            for (std::size_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) work(lanes_[std::size_t(lane)], u);
        });
    }

    /// Stage 1 (§1–4): P-Net over the pyramid, per-scale NMS 0.5, cross-scale NMS 0.7, regression, square;
    /// the candidates in windows_.
    /// Each scale's P-Net map is computed in bands of output rows: output row y reads input rows
    /// [2y, 2y+12), so a band is the same computation on a slice of the scaled image (resampled by the
    /// band itself), and its activations stay in cache. The last band runs to the image's end, where the
    /// ceil-mode pooling sees what it sees on the whole image.
    void stage1(const Image& img) {
        using PNet = models::PNet<B>;
        detail::pyramid_scales(img.width, img.height, options_.min_face, options_.factor, scales_);
        double pyramid_pixels = 0;
        for (double sc : scales_) pyramid_pixels += (double(img.height) * sc + 1) * (double(img.width) * sc + 1);
        if (pyramid_pixels > double(options_.max_pyramid_pixels))
            FACEKIT_THROW(InvalidArgument("the image pyramid of a " + std::to_string(img.width) + "×" + std::to_string(img.height) +
                                  " image at a minimum face of " + std::to_string(options_.min_face) + " pixels would hold " +
                                  std::to_string(std::int64_t(pyramid_pixels)) + " pixels, over the limit of " +
                                  std::to_string(options_.max_pyramid_pixels) + " (raise the minimum face size or the limit)"));
        while (maps_.size() < scales_.size()) maps_.emplace_back();
        levels_.clear(), bands_.clear();
        for (std::size_t i = 0; i < scales_.size(); ++i) {
            const int hs = int(img.height * scales_[i] + 1), ws = int(img.width * scales_[i] + 1);
            levels_.push_back(Shape(1, hs, ws, 3));
            maps_[i].reshape(nets_->pnet.output_shape(levels_[i]));
            for (int y = 0; y < maps_[i].shape().h; y += options_.pnet_band_rows)
                bands_.push_back({i, y, std::min(maps_[i].shape().h, y + options_.pnet_band_rows)});
        }
        // Each band resamples the rows of its scale it reads (its neighbours' overlap of 10 rows again)
        // into its lane, where P-Net reads them from cache: the whole pyramid, written out and read back,
        // went through L3 (2.6 MB for 640×480), which a busy neighbour on a shared cache made slow.
        for_each_unit(bands_.size(), [&](Lane& lane, std::size_t b) {
            const Band& band = bands_[b];
            const Shape& level = levels_[band.scale];
            Tensor& map = maps_[band.scale];
            const int r0 = PNet::kStride * band.y0, r1 = r0 + band_input_rows(band.y0, band.y1, map.shape().h, level.h);
            Tensor& slice = lane.input.tensor(0, Shape(1, r1 - r0, level.w, 3));
            sampler_.resize_normalized(PixelRect{0, 0, img.width, img.height}, level.h, level.w, slice.data(), r0, r1);
            const View out = nets_->pnet.forward(slice, lane.net, Context{nullptr, &lane.net});
            std::copy(out.data, out.data + out.shape.numel(), map.view().pixel(0, band.y0, 0));
        });
        std::vector<detail::Window>& all = windows_;
        all.clear();
        for (std::size_t i = 0; i < scales_.size(); ++i) {
            const ConstView out = maps_[i].view();
            const float s = float(scales_[i]);
            found_.clear();
            for (int y = 0; y < out.shape.h; ++y)
                for (int x = 0; x < out.shape.w; ++x) {
                    const float* o = out.pixel(0, y, x);
                    if (!(o[1] >= options_.thresholds[0])) continue;
                    detail::Window w{};
                    // float32 true division by float(scale), then floor (§3)
                    w.x1 = std::floor(float(2 * x + 1) / s);
                    w.y1 = std::floor(float(2 * y + 1) / s);
                    w.x2 = std::floor(float(2 * x + 12) / s);
                    w.y2 = std::floor(float(2 * y + 12) / s);
                    w.score = o[1];
                    std::copy(o + 2, o + 6, w.reg);
                    found_.push_back(w);
                }
            for (int kept : detail::greedy_nms(found_, detail::Overlap::IoU, 0.5, nms_)) all.push_back(found_[std::size_t(kept)]);
        }
        detail::keep_only(all, detail::greedy_nms(all, detail::Overlap::IoU, 0.7, nms_), spare_);
        for (detail::Window& w : all) {  // regression with the size without +1 (§4)
            const float rw = w.x2 - w.x1, rh = w.y2 - w.y1;
            const float x1 = w.x1 + detail::mul(w.reg[0], rw), y1 = w.y1 + detail::mul(w.reg[1], rh);
            const float x2 = w.x2 + detail::mul(w.reg[2], rw), y2 = w.y2 + detail::mul(w.reg[3], rh);
            w.x1 = x1, w.y1 = y1, w.x2 = x2, w.y2 = y2;
        }
        detail::make_square(all);
        if (all.size() > options_.max_candidates) all.resize(options_.max_candidates);  // best scores first
    }

    /// Crops every window of windows_ (§5), drops those without pixels, runs `net` on batches, and leaves
    /// its rows in rows_ (one per kept window).
    template <class Net>
    void run_crops(const Net& net, const Image& img, int size, std::size_t batch) {
        spare_.clear(), rects_.clear();
        for (const detail::Window& w : windows_) {
            PixelRect r;
            if (detail::crop_rect(w, img.width, img.height, r)) spare_.push_back(w), rects_.push_back(r);
        }
        windows_.swap(spare_);
        const std::size_t n = windows_.size(), per_crop = std::size_t(size) * size * 3;
        rows_.resize(n * Net::kOutputs);
        for_each_unit((n + batch - 1) / batch, [&](Lane& lane, std::size_t unit) {
            const std::size_t b0 = unit * batch, bn = std::min(batch, n - b0);
            Tensor& input = lane.input.tensor(0, Shape(std::int64_t(bn), size, size, 3));
            for (std::size_t i = 0; i < bn; ++i)
                sampler_.resize_normalized(rects_[b0 + i], size, size, input.data() + i * per_crop);
            const View out = net.forward(input, lane.net, Context{nullptr, &lane.net});
            for (std::size_t i = 0; i < bn; ++i)
                std::copy(out.pixel(i), out.pixel(i) + Net::kOutputs, &rows_[(b0 + i) * Net::kOutputs]);
        });
    }

    /// Stage 2 (§6): R-Net, keep p > t2, NMS 0.7, regression (+1), square.
    void stage2(const Image& img) {
        run_crops(nets_->rnet, img, 24, options_.rnet_batch);
        std::size_t kept = 0;
        for (std::size_t i = 0; i < windows_.size(); ++i) {
            const float* o = &rows_[i * 6];
            if (!(o[1] > options_.thresholds[1])) continue;
            detail::Window w = windows_[i];
            w.score = o[1];
            std::copy(o + 2, o + 6, w.reg);
            windows_[kept++] = w;  // in place: kept <= i
        }
        windows_.resize(kept);
        detail::keep_only(windows_, detail::greedy_nms(windows_, detail::Overlap::IoU, 0.7, nms_), spare_);
        for (detail::Window& w : windows_) detail::regress_plus1(w);
        detail::make_square(windows_);
    }

    /// Stage 3 (§7, §9): O-Net, keep p > t3, landmarks from the unregressed window, regression, "Min"
    /// NMS 0.7, then the largest box area first (into `out`).
    void stage3(const Image& img, std::vector<Detection>& out) {
        run_crops(nets_->onet, img, 48, options_.onet_batch);
        std::size_t kept = 0;
        for (std::size_t i = 0; i < windows_.size(); ++i) {
            const float* o = &rows_[i * 16];
            if (!(o[1] > options_.thresholds[2])) continue;
            detail::Window w = windows_[i];
            w.score = o[1];
            std::copy(o + 2, o + 6, w.reg);
            const float wd = w.x2 - w.x1 + 1.0f, h = w.y2 - w.y1 + 1.0f;
            for (int k = 0; k < 5; ++k) {
                w.landmarks[k] = detail::mul(wd, o[6 + k]) + w.x1 - 1.0f;
                w.landmarks[5 + k] = detail::mul(h, o[11 + k]) + w.y1 - 1.0f;
            }
            detail::regress_plus1(w);
            windows_[kept++] = w;
        }
        windows_.resize(kept);
        detail::keep_only(windows_, detail::greedy_nms(windows_, detail::Overlap::Min, double(0.7f), nms_), spare_);
        faces_.clear();
        for (const detail::Window& w : windows_) {
            Detection d;
            d.box = {w.x1, w.y1, w.x2, w.y2};
            d.score = w.score;
            for (int k = 0; k < 5; ++k) d.landmarks[k] = Point{w.landmarks[k], w.landmarks[5 + k]};
            faces_.push_back(d);
        }
        // numpy argsort(area)[::-1]: ascending and stable, then reversed = descending area, ties by the
        // higher index first (a total order, so std::sort gives it without a stable sort's buffer)
        order_.resize(faces_.size());
        std::iota(order_.begin(), order_.end(), 0);
        area_.resize(faces_.size());
        for (std::size_t i = 0; i < faces_.size(); ++i) area_[i] = detail::mul(faces_[i].width(), faces_[i].height());
        std::sort(order_.begin(), order_.end(), [&](int a, int b) {
            const float fa = area_[std::size_t(a)], fb = area_[std::size_t(b)];
            if (std::isnan(fa) || std::isnan(fb)) return std::isnan(fa) == std::isnan(fb) ? a > b : std::isnan(fa);  // numpy: NaN last, reversed
            return fa != fb ? fa > fb : a > b;
        });
        for (int i : order_) {
            if (out.size() == options_.max_faces) break;
            out.push_back(faces_[std::size_t(i)]);
        }
    }

    std::shared_ptr<const Nets> nets_;
    DetectorOptions options_;
    ThreadPool* pool_ = nullptr;
    std::deque<Lane> lanes_;             // per thread; a deque, so that growing it moves none
    std::deque<Tensor> maps_;            // per pyramid scale: P-Net's output
    AreaSampler sampler_;                // of the image being searched
    StageTimes times_;
    // The scratch of a call, kept from call to call (reserve() sizes it)
    struct Band {
        std::size_t scale;
        int y0, y1;
    };
    std::vector<double> scales_;
    std::vector<Shape> levels_;  // the scaled images' shapes
    std::vector<Band> bands_;
    std::vector<detail::Window> windows_, found_, spare_;
    std::vector<PixelRect> rects_;
    std::vector<float> rows_, area_;
    std::vector<int> order_;
    std::vector<Detection> faces_;
    detail::NmsScratch nms_;
};

}  // namespace facekit
