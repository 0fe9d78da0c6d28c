// A small command-line parser for the facekit tool: --name value, --name=value, flags, positionals.
// Unknown options and missing values are usage errors (exit status 2).
#pragma once
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Args {
public:
    /// `options` take a value, `flags` do not.
    Args(const std::vector<std::string>& argv, std::set<std::string> options, std::set<std::string> flags)
        : options_(std::move(options)), flags_(std::move(flags)) {
        for (std::size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (a == "--") {
                positional_.insert(positional_.end(), argv.begin() + long(i) + 1, argv.end());
                break;
            }
            if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
                std::string name = a.substr(2), value;
                const auto eq = name.find('=');
                const bool inline_value = eq != std::string::npos;
                if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
                if (flags_.count(name)) {
                    if (inline_value) throw UsageError("option --" + name + " takes no value");
                    set_flags_.insert(name);
                } else if (options_.count(name)) {
                    if (!inline_value) {
                        if (i + 1 >= argv.size()) throw UsageError("option --" + name + " needs a value");
                        value = argv[++i];
                    }
                    values_[name] = value;
                } else {
                    throw UsageError("unknown option --" + name);
                }
            } else {
                positional_.push_back(a);
            }
        }
    }
    bool flag(const std::string& name) const { return set_flags_.count(name) != 0; }
    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const {
        auto it = values_.find(name);
        return it == values_.end() ? fallback : it->second;
    }
    long integer(const std::string& name, long fallback, long lo, long hi) const {
        if (!has(name)) return fallback;
        const std::string v = get(name);
        char* end = nullptr;
        errno = 0;
        long r = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || errno || r < lo || r > hi)
            throw UsageError("--" + name + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
        return r;
    }
    double number(const std::string& name, double fallback, double lo, double hi) const {
        if (!has(name)) return fallback;
        return parse_number("--" + name, get(name), lo, hi);
    }
    static double parse_number(const std::string& what, const std::string& v, double lo, double hi) {
        char* end = nullptr;
        double r = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || !(r >= lo && r <= hi))
            throw UsageError(what + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
        return r;
    }
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::set<std::string> options_, flags_, set_flags_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

}  // namespace cli
