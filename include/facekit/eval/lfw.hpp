// facekit/eval/lfw.hpp: the LFW verification list (pairs.txt) and its image paths.
// Header "FOLDS<TAB>N", then FOLDS × (N "same" lines "name i j" and N "different" lines "name1 i name2 j").
// Images are <dir>/<Name>/<Name>_NNNN.jpg.
#pragma once
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "../engine/error.hpp"
#include "../io/image.hpp"

namespace facekit::eval {

struct LfwPair {
    std::string name1;
    int index1 = 0;
    std::string name2;
    int index2 = 0;
    bool same = false;
};

struct LfwPairs {
    int folds = 0, per_fold = 0;
    std::vector<LfwPair> pairs;
};

inline std::string lfw_image_path(const std::string& dir, const std::string& name, int index) {
    char num[16];
    std::snprintf(num, sizeof num, "%04d", index);
    return dir + "/" + name + "/" + name + "_" + num + ".jpg";
}

/// Parses pairs.txt text; `file` names it in errors ("pairs.txt:LINE: what").
inline LfwPairs parse_lfw_pairs(const std::string& text, const std::string& file) {
    LfwPairs out;
    std::istringstream in(text);
    std::string line;
    int lineno = 0;
    auto bad = [&](const std::string& what) { FACEKIT_THROW(FileError(file, "line " + std::to_string(lineno) + ": " + what)); };
    auto index_of = [&](const std::string& s) {
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) bad("bad image number \"" + s + "\"");
        return std::stoi(s);
    };
    auto check_name = [&](const std::string& s) {
        if (s.empty() || s.size() > 200 || s.find('/') != std::string::npos || s == "." || s == "..") bad("bad name \"" + s + "\"");
    };
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::istringstream ls(line);
        std::vector<std::string> f;
        for (std::string w; ls >> w;) f.push_back(w);
        if (lineno == 1) {
            if (f.size() != 2) bad("header must be \"FOLDS PAIRS_PER_FOLD\"");
            out.folds = index_of(f[0]), out.per_fold = index_of(f[1]);
            if (out.folds < 1 || out.per_fold < 1 || std::int64_t(out.folds) * out.per_fold > 1000000) bad("header out of range");
            continue;
        }
        if (f.empty()) continue;
        LfwPair p;
        if (f.size() == 3) {
            check_name(f[0]);
            p = {f[0], index_of(f[1]), f[0], index_of(f[2]), true};
        } else if (f.size() == 4) {
            check_name(f[0]), check_name(f[2]);
            p = {f[0], index_of(f[1]), f[2], index_of(f[3]), false};
        } else {
            bad("expected \"name i j\" or \"name1 i name2 j\"");
        }
        out.pairs.push_back(p);
    }
    if (lineno == 0) FACEKIT_THROW(FileError(file, "empty file"));
    const std::size_t expect = std::size_t(out.folds) * 2 * std::size_t(out.per_fold);
    if (out.pairs.size() != expect)
        FACEKIT_THROW(FileError(file, "has " + std::to_string(out.pairs.size()) + " pairs, the header promises " + std::to_string(expect)));
    // each fold: per_fold "same" lines, then per_fold "different" lines
    for (std::size_t i = 0; i < out.pairs.size(); ++i)
        if (out.pairs[i].same != (i % (2 * std::size_t(out.per_fold)) < std::size_t(out.per_fold)))
            FACEKIT_THROW(FileError(file, "pair " + std::to_string(i + 1) + " is out of the folds' same/different order"));
    return out;
}

inline LfwPairs load_lfw_pairs(const std::string& path) {
    auto bytes = facekit::detail::read_file(path, std::size_t(64) << 20);
    return parse_lfw_pairs(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace facekit::eval
