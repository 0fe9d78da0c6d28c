// facekit/engine/weights.hpp: reading a converted weights file into layer specifications.
// Checks the architecture recorded by the converter, then hands out tensors by upstream name with their
// expected shapes, so that a wrong or damaged file fails at load with the tensor's name.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "safetensors.hpp"
#include "conv_spec.hpp"
#include "prepacked.hpp"
#include "tensor.hpp"

namespace facekit::models {

class WeightFile {
public:
    /// `errors` null: the first problem raises FileError. Otherwise the first problem is recorded there
    /// and get() hands out zeros of the expected shape, so that a network's constructor runs to its end
    /// without raising and its try_ form returns the status (and discards the half-built network).
    ///
    /// `packed_layout`: the layout the network's backend packs into (nn::packed_layout<B>(), "" when it has
    /// none), or null when the network does not read packed files. A packed file (engine/prepacked.hpp)
    /// whose layout matches puts the WeightFile in prepacked mode: get() hands out nothing, the specs are
    /// marked prepacked, and the network's constructor ends with adopt_layers(*this).
    WeightFile(const SafeTensors& st, const std::string& architecture, Status* errors = nullptr,
               const char* packed_layout = nullptr)
        : st_(st), errors_(errors) {
        const std::string arch = st.metadata("architecture"), packed = st.metadata("packed_layout");
        if (arch != architecture)
            report(Status::file_error(st.name(), "holds " + (arch.empty() ? std::string("no recorded architecture") : "\"" + arch + "\"") +
                                                     ", expected \"" + architecture + "\" (convert it with weights_converter/convert.py)"));
        else if (!packed.empty() && !packed_layout)
            report(Status::file_error(st.name(), "is a packed weights file; " + architecture + " loads converted float weights only"));
        else if (!packed.empty() && packed != packed_layout)
            report(Status::file_error(st.name(), "is packed for layout \"" + packed + "\", but this build's backend " +
                                                     (*packed_layout ? "reads \"" + std::string(packed_layout) + "\"" : std::string("packs nothing")) +
                                                     ": load the float weights, or pack them with this build (facekit pack)"));
        else
            prepacked_ = !packed.empty();
    }
    const SafeTensors& file() const noexcept { return st_; }
    /// Whether the layers' arrays come packed from the file (then get() returns empty vectors).
    bool prepacked() const noexcept { return prepacked_; }
    /// Whether no problem has been recorded (always true when problems raise).
    bool ok() const noexcept { return !errors_ || errors_->ok(); }
    /// Raises FileError, or records it when recording (the first one wins).
    void report(const Status& problem) const {
        if (!errors_) problem.raise_if_error();
        else if (errors_->ok()) *errors_ = problem;
    }

    /// The tensor `name`, which must have `shape` and finite values (a NaN or infinite weight would turn
    /// every embedding into NaNs, reported nowhere).
    std::vector<float> get(const std::string& name, const std::vector<std::int64_t>& shape) const {
        std::vector<float> v;
        if (prepacked_) return v;
        Status s = st_.try_floats(name, v, shape);
        for (std::size_t i = 0; s && i < v.size(); ++i)
            if (!std::isfinite(v[i])) s = Status::file_error(st_.name(), "tensor \"" + name + "\" has a non-finite value");
        if (!s) {
            report(s);
            std::size_t n = 1;
            for (auto d : shape) n *= std::size_t(d);
            v.assign(n, 0.0f);
        }
        return v;
    }

    /// A PyTorch Conv2d "prefix.weight" (OIHW) [+ "prefix.bias"] as an OHWI ConvSpec.
    nn::ConvSpec conv(const std::string& prefix, int cin, int cout, nn::Window win, bool bias = true) const {
        nn::ConvSpec s;
        s.window = win, s.cin = cin, s.cout = cout;
        s.prepacked = prepacked_;
        if (prepacked_) return s;
        s.weights = nn::ohwi_from_oihw(get(prefix + ".weight", {cout, cin, win.kh, win.kw}), cout, cin, win.kh, win.kw);
        s.epilogue.bias = bias ? get(prefix + ".bias", {cout}) : std::vector<float>(std::size_t(cout), 0.0f);
        return s;
    }
    /// A PyTorch Linear "prefix" ([out][in] weight, bias) as a 1×1 ConvSpec.
    nn::ConvSpec linear(const std::string& prefix, int in, int out, bool bias = true) const {
        nn::ConvSpec s;
        s.window = nn::Window::square(1), s.cin = in, s.cout = out;
        s.prepacked = prepacked_;
        if (prepacked_) return s;
        s.weights = get(prefix + ".weight", {out, in});
        s.epilogue.bias = bias ? get(prefix + ".bias", {out}) : std::vector<float>(std::size_t(out), 0.0f);
        return s;
    }

    /// In prepacked mode, points every packed array of net's weighted layers (Net::for_each_layer) at its
    /// tensor in the file, where it lies: checked for size, alignment and finite values, copied only where
    /// the bytes are not 64-byte aligned. Every tensor of the file must be taken. Otherwise does nothing.
    template <class Net>
    void adopt_layers(Net& net) const {
        if (!prepacked_ || !ok()) return;
        int layer = 0;
        std::size_t taken = 0;
        net.for_each_layer([&](auto& l) {
            l.for_each_packed_array([&](const char* array, PackedArray& a) {
                if (ok() && a.size()) adopt(nn::packed_tensor_name(layer, array), a), ++taken;
            });
            ++layer;
        });
        if (ok() && taken != st_.tensors().size())
            report(Status::file_error(st_.name(), "holds " + std::to_string(st_.tensors().size()) + " packed arrays, the network reads " +
                                                      std::to_string(taken) + " (packed for another network?)"));
    }
private:
    void adopt(const std::string& name, PackedArray& a) const {
        const TensorInfo* t = st_.find(name);
        auto fail = [&](const std::string& why) { report(Status::file_error(st_.name(), "packed array \"" + name + "\" " + why)); };
        if (!t) return fail("not found (packed for another network?)");
        if (t->dtype != DType::F32 || t->shape.size() != 1 || std::size_t(t->numel()) != nn::packed_padded_size(a.size()))
            return fail("is not " + std::to_string(nn::packed_padded_size(a.size())) + " F32 values");
        const float* p = reinterpret_cast<const float*>(t->bytes);  // little-endian hosts only (safetensors.hpp)
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!std::isfinite(p[i])) return fail("has a non-finite value");
        if (reinterpret_cast<std::uintptr_t>(p) % kAlignment == 0) return a.borrow(p, st_.keep_alive());
        a.resize(a.size());  // bytes not aligned (a file read without mmap): one copy, still no packing
        std::memcpy(a.data(), p, a.size() * sizeof(float));
    }

    const SafeTensors& st_;
    Status* errors_;
    bool prepacked_ = false;
};

/// Adds a PReLU with the slopes stored in `name` to a convolution's epilogue.
inline nn::ConvSpec with_prelu(nn::ConvSpec s, const WeightFile& w, const std::string& name) {
    s.epilogue.activation = nn::Activation::PReLU;
    s.epilogue.alpha = w.get(name, {s.cout});
    return s;
}

/// Concatenates the output channels of convolutions that read the same input (sibling heads), so they
/// run as one: their outputs come out side by side in channel order.
inline nn::ConvSpec concat_outputs(const std::vector<nn::ConvSpec>& heads) {
    nn::ConvSpec s = heads.at(0);
    for (std::size_t i = 1; i < heads.size(); ++i) {
        const nn::ConvSpec& h = heads[i];
        if (h.cin != s.cin || h.window.kh != s.window.kh || h.window.kw != s.window.kw)
            FACEKIT_THROW(InvalidArgument("concat_outputs: heads must share input and kernel"));
        s.cout += h.cout;
        s.weights.insert(s.weights.end(), h.weights.begin(), h.weights.end());
        s.epilogue.bias.insert(s.epilogue.bias.end(), h.epilogue.bias.begin(), h.epilogue.bias.end());
    }
    return s;
}

}  // namespace facekit::models
