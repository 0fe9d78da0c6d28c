// facekit/embed/mobilefacenet.hpp: MobileFaceNet (Chen et al. 2018), from the TensorFlow Lite graph that
// the converter recorded in the weights' metadata.
//
//   112×112×3 ─ conv3×3/2(64) PReLU ─ dw3×3(64) PReLU ─ 1×1(64) ─ bottlenecks [1×1 expand PReLU ─ dw3×3
//   PReLU ─ 1×1 project (+ residual)] ×15 (56→28→14→7) ─ 1×1(512) PReLU ─ GDConv dw7×7 ─ 1×1(512) ─
//   1×1(192) ─ embedding (raw; L2-normalised by forward())
//
// The network is not assumed: it is read from the operator list. CONV_2D and DEPTHWISE_CONV_2D become
// engine layers; TFLite's PReLU decomposition relu(x) + c·(x − |x|) (RELU, ABS, SUB, MUL, ADD) becomes
// a PReLU with α = 2c fused into the layer before it; a residual ADD becomes that layer's residual
// epilogue; RESHAPE to [N, 192] is a no-op in NHWC. Any other operator is refused with its name.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../engine/json.hpp"
#include "../align/align.hpp"
#include "../engine/workspace.hpp"
#include "../engine/backends.hpp"
#include "../engine/layers.hpp"
#include "../engine/ops.hpp"
#include "../engine/weights.hpp"

namespace facekit::models {

template <class B = nn::DefaultBackend>
class MobileFaceNet {
public:
    static constexpr int kInput = 112, kDim = 192;
    static constexpr Alignment kAlignment = Alignment::FivePoint;  // trained on ArcFace-aligned faces
    /// Called with (tensor name, value) after each layer, for inspection, profiling and tests.
    using Observer = std::function<void(const std::string&, ConstView)>;

    /// `errors`: see WeightFile (null: a bad file raises).
    explicit MobileFaceNet(const SafeTensors& st, Status* errors = nullptr) {
        WeightFile w(st, "mobilefacenet", errors, nn::packed_layout<B>());
        Json graph;
        std::string why;
        if (!Json::try_parse(st.metadata("graph"), graph, why))
            w.report(Status::file_error(st.name(), "bad graph metadata: " + why));
        else if (!(why = schema_error(graph)).empty())
            w.report(Status::file_error(st.name(), "graph: " + why));
        else
            build(st, w, graph);
        w.adopt_layers(*this);
    }

    /// Visits the layers that hold weights, in the order they run (packed weights files: engine/prepacked.hpp).
    template <class F>
    void for_each_layer(F&& f) {
        for (const Step& s : steps_) {
            if (s.depthwise) f(dw_[s.layer]);
            else f(conv_[s.layer]);
        }
    }

    /// in: N×112×112×3 RGB standardised as (v − 127.5)/128. Returns N×1×1×192 in `ws`, L2-normalised
    /// unless `normalize` is false (the raw output TensorFlow Lite gives).
    View forward(ConstView in, Workspace& ws, const Context& ctx, bool normalize = true,
                 const Observer& observe = nullptr) const {
        if (in.shape.h != kInput || in.shape.w != kInput || in.shape.c != 3)
            FACEKIT_THROW(InvalidArgument("MobileFaceNet expects N×112×112×3 input, got " + in.shape.to_string()));
        ConstView* values = ws.views(names_.size());  // no allocation once the workspace has seen this net
        values[input_] = in;
        for (const Step& s : steps_) {
            ConstView x = values[s.input];
            const ConstView* res = s.residual >= 0 ? &values[s.residual] : nullptr;
            Shape os = s.depthwise ? dw_[s.layer].output_shape(x.shape) : conv_[s.layer].output_shape(x.shape);
            Tensor& y = ws.tensor(s.slot, os);
            if (s.depthwise) dw_[s.layer].forward(x, y, ctx, res);
            else conv_[s.layer].forward(x, y, ctx, res);
            values[s.output] = y.view();
            if (observe) observe(names_[std::size_t(s.output)], y.view());
        }
        View out(const_cast<float*>(values[output_].data), values[output_].shape);
        if (normalize) nn::l2_normalize(out);
        return out;
    }

    double flops(const Shape& in) const {
        double f = 0;
        std::vector<Shape> shapes(names_.size());
        shapes[input_] = in;
        for (const Step& s : steps_) {
            const Shape& x = shapes[s.input];
            f += s.depthwise ? dw_[s.layer].flops(x) : conv_[s.layer].flops(x);
            shapes[s.output] = s.depthwise ? dw_[s.layer].output_shape(x) : conv_[s.layer].output_shape(x);
        }
        return f;
    }
    std::size_t layers() const noexcept { return steps_.size(); }

private:
    struct Step {
        bool depthwise = false;
        std::size_t layer = 0;
        int input = -1, output = -1, residual = -1;
        std::size_t slot = 0;
        int cin = 0;        // the input channels the layer takes
        nn::Window window;  // and its window, to check shapes before output_shape() could raise
    };

    int id(const std::string& name) {
        auto it = ids_.find(name);
        if (it != ids_.end()) return it->second;
        ids_[name] = int(names_.size());
        names_.push_back(name);
        return int(names_.size()) - 1;
    }

    // Limits on what a graph may declare, checked before any of it is used: the file may come from a
    // stranger, and a stride of 0, a kernel of 2^40 or a shape of rank 1 must be an error, not a crash.
    static constexpr int kMaxDimension = 1 << 16;  // any extent or channel count
    static constexpr int kMaxKernel = 64, kMaxStride = 16;

    /// What in the graph's JSON is not of the type build() reads, or "": after this check no Json access
    /// in build() can raise, so that a bad graph is reported the same way with or without exceptions.
    static std::string schema_error(const Json& g) {
        auto strings = [](const Json* a, bool nonempty) {
            if (!a || !a->is_array() || (nonempty && a->array().empty())) return false;
            for (auto& x : a->array())
                if (!x.is_string()) return false;
            return true;
        };
        if (!g.is_object()) return "not a JSON object";
        const Json *ops = g.find("ops"), *shapes = g.find("shapes");
        if (!ops || !ops->is_array()) return "\"ops\" is not an array";
        if (!shapes || !shapes->is_object()) return "\"shapes\" is not an object";
        if (!strings(g.find("inputs"), true) || !strings(g.find("outputs"), true))
            return "\"inputs\" and \"outputs\" must be non-empty arrays of names";
        for (auto& [name, dims] : shapes->object()) {
            bool ok = dims.is_array();
            for (std::size_t k = 0; ok && k < dims.array().size(); ++k) ok = dims.array()[k].is_integer();
            if (!ok) return "the shape of \"" + name + "\" is not an array of integers";
        }
        for (std::size_t k = 0; k < ops->array().size(); ++k) {
            const Json& op = ops->array()[k];
            const std::string where = "operator " + std::to_string(k);
            const Json* kind = op.find("op");
            if (!kind || !kind->is_string()) return where + " has no \"op\" name";
            if (!strings(op.find("inputs"), false) || !strings(op.find("outputs"), true))
                return where + " has no list of input and output names";
            if (kind->string() != "CONV_2D" && kind->string() != "DEPTHWISE_CONV_2D") continue;
            const Json* opt = op.find("options");
            if (!opt || !opt->is_object()) return where + " has no options";
            for (const char* key : {"dilation_h_factor", "dilation_w_factor", "stride_h", "stride_w"})
                if (!opt->find(key) || !opt->find(key)->is_integer()) return where + ": option " + key + " is not an integer";
            if (kind->string() == "DEPTHWISE_CONV_2D" && (!opt->find("depth_multiplier") || !opt->find("depth_multiplier")->is_integer()))
                return where + ": option depth_multiplier is not an integer";
            for (const char* key : {"fused_activation_function", "padding"})
                if (!opt->find(key) || !opt->find(key)->is_string()) return where + ": option " + key + " is not a string";
        }
        return "";
    }

    /// Builds the layers from a graph that passed schema_error(). Each problem goes to w.report(): it
    /// raises, or (recording) returns at once; the helpers hand back harmless values after reporting.
    void build(const SafeTensors& st, const WeightFile& w, const Json& graph) {
        auto bad = [&](const std::string& what) { w.report(Status::file_error(st.name(), "graph: " + what)); };
        const Json::Array& ops = graph.at("ops").array();
        const Json& shapes = graph.at("shapes");
        auto bounded = [&](const Json& v, int lo, int hi, const std::string& what) {
            const std::int64_t x = v.integer();
            if (x < lo || x > hi)
                return bad(what + " is " + std::to_string(x) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"), lo;
            return int(x);
        };
        // the recorded shape of tensor t; `rank` > 0 requires that rank
        auto shape_of = [&](const std::string& t, std::size_t rank = 0) {
            const Json* j = shapes.find(t);
            const std::vector<int> ones(rank ? rank : 4, 1);
            if (!j) return bad("tensor \"" + t + "\" has no recorded shape"), ones;
            std::vector<int> s;
            for (auto& d : j->array()) s.push_back(bounded(d, 1, kMaxDimension, "a dimension of \"" + t + "\""));
            if (rank && s.size() != rank)
                return bad("tensor \"" + t + "\" has rank " + std::to_string(s.size()) + ", expected " + std::to_string(rank)), ones;
            return s;
        };
        std::map<std::string, std::string> alias;  // RESHAPE outputs and fused PReLU outputs
        auto resolve = [&](std::string t) {
            for (std::size_t steps = 0; alias.count(t); ++steps) {
                if (steps > alias.size()) return bad("RESHAPE outputs alias each other in a cycle"), t;
                t = alias.at(t);
            }
            return t;
        };
        const std::string in_name = graph.at("inputs")[0].string();
        input_ = id(in_name);
        std::size_t i = 0;
        auto op_at = [&](std::size_t k, const char* kind) {
            return k < ops.size() && ops[k].at("op").string() == kind;
        };
        // the inputs of operator k, at least `at_least` of them
        auto inputs = [&](std::size_t k, std::size_t at_least = 1) {
            std::vector<std::string> r;
            for (auto& t : ops[k].at("inputs").array()) r.push_back(t.string());
            if (r.size() < at_least) bad("operator " + std::to_string(k) + " has " + std::to_string(r.size()) + " inputs");
            r.resize(std::max(r.size(), at_least));
            return r;
        };
        auto output = [&](std::size_t k) { return ops[k].at("outputs")[0].string(); };
        while (i < ops.size() && w.ok()) {
            const std::string kind = ops[i].at("op").string();
            if (kind == "CONV_2D" || kind == "DEPTHWISE_CONV_2D") {
                auto in = inputs(i);
                if (in.size() != 3) return bad("operator " + std::to_string(i) + " (" + kind + ") without a bias");
                const Json& opt = ops[i].at("options");
                if (opt.at("dilation_h_factor").integer() != 1 || opt.at("dilation_w_factor").integer() != 1)
                    return bad("dilated convolutions are not supported");
                const std::string act = opt.at("fused_activation_function").string();
                if (act != "NONE" && act != "RELU") return bad("fused activation " + act + " is not supported");
                std::vector<int> ws = shape_of(in[1], 4), xs = shape_of(in[0], 4);
                if (ws[1] > kMaxKernel || ws[2] > kMaxKernel) return bad("kernel of operator " + std::to_string(i) + " larger than 64");
                nn::Window win{ws[1], ws[2], bounded(opt.at("stride_h"), 1, kMaxStride, "stride_h"),
                               bounded(opt.at("stride_w"), 1, kMaxStride, "stride_w")};
                if (opt.at("padding").string() == "SAME") win = win.same_for(xs[1], xs[2]);
                std::vector<float> weights = w.get(in[1], {ws[0], ws[1], ws[2], ws[3]});
                nn::Epilogue epi;
                epi.bias = w.get(in[2], {kind == "CONV_2D" ? ws[0] : ws[3]});
                if (act == "RELU") epi.activation = nn::Activation::ReLU;
                std::string out = output(i);
                ++i;
                // TFLite's PReLU: relu(x) + c·(x − |x|)  ==  x > 0 ? x : 2c·x
                if (op_at(i, "RELU") && op_at(i + 1, "ABS") && op_at(i + 2, "SUB") && op_at(i + 3, "MUL") &&
                    op_at(i + 4, "ADD") && inputs(i)[0] == out && inputs(i + 1)[0] == out) {
                    auto mul_in = inputs(i + 3, 2);
                    const std::string c = mul_in[0] == output(i + 2) ? mul_in[1] : mul_in[0];
                    std::vector<float> alpha = w.get(c, {std::int64_t(epi.bias.size())});
                    for (float& a : alpha) a *= 2.0f;
                    if (act != "NONE") return bad("PReLU after a fused activation");
                    epi.activation = nn::Activation::PReLU;
                    epi.alpha = std::move(alpha);
                    out = output(i + 4);
                    i += 5;
                }
                if (!w.ok()) return;
                Step s;
                s.input = id(resolve(in[0]));
                s.cin = ws[3], s.window = win;
                if (kind == "CONV_2D") {
                    nn::ConvSpec spec;
                    spec.window = win, spec.cin = ws[3], spec.cout = ws[0];
                    spec.weights = std::move(weights);  // OHWI already
                    spec.epilogue = std::move(epi);
                    spec.prepacked = w.prepacked();
                    s.layer = conv_.size();
                    conv_.emplace_back(spec);
                } else {
                    if (ws[0] != 1 || opt.at("depth_multiplier").integer() != 1) return bad("depth multiplier must be 1");
                    nn::DepthwiseSpec spec;
                    spec.window = win, spec.channels = ws[3];
                    spec.weights = std::move(weights);  // 1HWC = [kh][kw][c]
                    spec.epilogue = std::move(epi);
                    spec.prepacked = w.prepacked();
                    s.depthwise = true;
                    s.layer = dw_.size();
                    dw_.emplace_back(spec);
                }
                s.output = id(out);
                steps_.push_back(s);
            } else if (kind == "ADD") {
                // A residual: one operand was just produced by the previous layer.
                auto in = inputs(i, 0);
                if (steps_.empty() || in.size() != 2) return bad("ADD that is not a residual connection");
                Step& prev = steps_.back();
                const std::string& last = names_[std::size_t(prev.output)];
                const std::string a = resolve(in[0]), b = resolve(in[1]);
                if (prev.residual >= 0 || (a != last && b != last)) return bad("ADD that does not follow its convolution");
                prev.residual = id(a == last ? b : a);
                if (shape_of(in[0]) != shape_of(in[1])) return bad("residual ADD of different shapes");
                names_[std::size_t(prev.output)] = output(i);
                ids_[output(i)] = prev.output;
                ++i;
            } else if (kind == "RESHAPE") {
                std::vector<int> out_shape = shape_of(output(i));
                if (out_shape.size() != 2) return bad("RESHAPE other than the final flattening");
                if (output(i) == inputs(i)[0]) return bad("RESHAPE of a tensor into itself");
                alias[output(i)] = inputs(i)[0];
                ++i;
            } else {
                bad("unsupported operator " + kind + " (operator " + std::to_string(i) + ")");
            }
        }
        if (!w.ok()) return;
        const std::string out_name = resolve(graph.at("outputs")[0].string());
        auto it = ids_.find(out_name);
        if (it == ids_.end()) return bad("the graph output is never produced");
        output_ = it->second;
        // every layer reads tensors produced before it, and produces a tensor nothing produced before
        std::vector<bool> produced(names_.size(), false);
        produced[std::size_t(input_)] = true;
        for (const Step& s : steps_) {
            if (!produced[std::size_t(s.input)] || (s.residual >= 0 && !produced[std::size_t(s.residual)]))
                return bad("a layer reads a tensor that no earlier operator produces");
            if (produced[std::size_t(s.output)]) return bad("tensor \"" + names_[std::size_t(s.output)] + "\" is produced twice");
            produced[std::size_t(s.output)] = true;
        }
        check_shapes(st, w, shape_of);
        if (w.ok()) assign_slots();
    }

    /// The layers must reproduce every shape the graph records (batch aside).
    template <class ShapeOf>
    void check_shapes(const SafeTensors& st, const WeightFile& w, const ShapeOf& shape_of) {
        std::vector<Shape> shapes(names_.size());
        shapes[input_] = Shape(1, kInput, kInput, 3);
        for (const Step& s : steps_) {
            const Shape& x = shapes[s.input];
            const nn::Window& k = s.window;
            if (x.c != s.cin || x.h + k.pad_top + k.pad_bottom < k.kh || x.w + k.pad_left + k.pad_right < k.kw)
                return w.report(Status::file_error(st.name(), "graph: the layer producing " + names_[s.output] + " cannot take a " +
                                                               x.to_string() + " input"));
            shapes[s.output] = s.depthwise ? dw_[s.layer].output_shape(x) : conv_[s.layer].output_shape(x);
            std::vector<int> g = shape_of(names_[s.output]);
            if (g.size() != 4 || g[1] != shapes[s.output].h || g[2] != shapes[s.output].w || g[3] != shapes[s.output].c)
                return w.report(Status::file_error(st.name(), "graph: layer output " + names_[s.output] + " has shape " +
                                                               shapes[s.output].to_string() + " here but another in the graph"));
        }
        if (shapes[output_].c != kDim || shapes[output_].h != 1)
            return w.report(Status::file_error(st.name(), "graph: the output is not a 192-d embedding"));
    }

    /// Gives each layer output a workspace slot, reusing slots whose tensor is no longer read.
    void assign_slots() {
        std::vector<std::size_t> last_use(names_.size(), 0);
        for (std::size_t k = 0; k < steps_.size(); ++k) {
            last_use[std::size_t(steps_[k].input)] = k;
            if (steps_[k].residual >= 0) last_use[std::size_t(steps_[k].residual)] = k;
        }
        last_use[std::size_t(output_)] = steps_.size();
        SlotAllocator slots;
        std::vector<std::size_t> slot_of(names_.size(), 0);
        std::vector<int> live;
        for (std::size_t k = 0; k < steps_.size(); ++k) {
            Step& s = steps_[k];
            s.slot = slots.acquire();
            slot_of[std::size_t(s.output)] = s.slot;
            live.push_back(s.output);
            // release what this step read for the last time (never the network input: it is not ours)
            for (auto it = live.begin(); it != live.end();) {
                if (*it != s.output && last_use[std::size_t(*it)] <= k) {
                    slots.release(slot_of[std::size_t(*it)]);
                    it = live.erase(it);
                } else {
                    ++it;
                }
            }
        }
    }

    std::vector<std::string> names_;
    std::map<std::string, int> ids_;
    int input_ = -1, output_ = -1;
    std::vector<Step> steps_;
    std::vector<nn::Conv2d<B>> conv_;
    std::vector<nn::DepthwiseConv2d<B>> dw_;
};

}  // namespace facekit::models
