// The facekit tool's command-line parser. Each command is described once, by a table of its options
// (name, value, default, meaning); the same table parses the arguments and writes the command's --help,
// so the two cannot disagree. Accepted forms: --name value, --name=value, flags, positionals, and "--"
// before positionals that start with "--". Unknown options and missing values are usage errors (exit 2).
#pragma once
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Option {
    std::string name;      // without the leading "--"
    std::string value;     // placeholder of its value ("N", "FILE"); empty for a flag
    std::string fallback;  // the default as --help shows it; for numbers, also the value used when absent
    std::string help;      // what it does, one line
};

struct Command {
    std::string name;      // "detect", "gallery identify"
    std::string synopsis;  // what follows the name in the usage line
    std::string brief;     // a few words for the list of commands
    std::string summary;   // what the command does
    std::vector<Option> options;
    std::string notes;     // more lines after the options (may be empty)
};

/// Concatenates groups of options (a command's own, then shared groups).
inline std::vector<Option> options(std::initializer_list<std::vector<Option>> groups) {
    std::vector<Option> all;
    for (const auto& g : groups) all.insert(all.end(), g.begin(), g.end());
    return all;
}

/// The command's --help: usage line, summary, every option with its meaning and default.
inline std::string help_text(const Command& c) {
    std::string s = "usage: facekit " + c.name + " " + c.synopsis + "\n\n" + c.summary + "\n";
    if (!c.options.empty()) s += "\noptions:\n";
    for (const Option& o : c.options) {
        std::string left = "  --" + o.name + (o.value.empty() ? "" : " " + o.value);
        left.resize(std::max<std::size_t>(left.size() + 2, 26), ' ');
        s += left + o.help + (o.fallback.empty() ? "" : " (default: " + o.fallback + ")") + "\n";
    }
    if (!c.notes.empty()) s += "\n" + c.notes + "\n";
    return s;
}

class Args {
public:
    Args(const std::vector<std::string>& argv, const Command& command) : command_(command) {
        for (std::size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (a == "--") {
                positional_.insert(positional_.end(), argv.begin() + long(i) + 1, argv.end());
                break;
            }
            if (a.size() <= 2 || a.compare(0, 2, "--") != 0) {
                positional_.push_back(a);
                continue;
            }
            std::string name = a.substr(2), value;
            const auto eq = name.find('=');
            const bool inline_value = eq != std::string::npos;
            if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
            const Option* o = find(name);
            if (!o) throw UsageError("unknown option --" + printable(name) + " for " + command_.name);
            if (o->value.empty()) {
                if (inline_value) throw UsageError("option --" + name + " takes no value");
                flags_.insert(name);
                continue;
            }
            if (!inline_value) {
                if (i + 1 >= argv.size()) throw UsageError("option --" + name + " needs a value (" + o->value + ")");
                value = argv[++i];
            }
            values_[name] = value;
        }
    }
    bool flag(const std::string& name) const { return declared(name), flags_.count(name) != 0; }
    bool has(const std::string& name) const { return declared(name), values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const {
        declared(name);
        auto it = values_.find(name);
        return it == values_.end() ? fallback : it->second;
    }
    /// An integer option in [lo, hi]; when absent, `fallback`.
    long integer(const std::string& name, long fallback, long lo, long hi) const {
        if (!has(name)) return fallback;
        const std::string v = get(name);
        char* end = nullptr;
        errno = 0;
        const long r = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || errno || r < lo || r > hi)
            throw UsageError("--" + name + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
        return r;
    }
    /// The same with the default of the option table.
    long integer(const std::string& name, long lo, long hi) const { return integer(name, std::stol(find(name)->fallback), lo, hi); }
    double number(const std::string& name, double fallback, double lo, double hi) const {
        return has(name) ? parse_number("--" + name, get(name), lo, hi) : fallback;
    }
    double number(const std::string& name, double lo, double hi) const { return number(name, std::stod(find(name)->fallback), lo, hi); }
    static double parse_number(const std::string& what, const std::string& v, double lo, double hi) {
        char* end = nullptr;
        const double r = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || !(r >= lo && r <= hi))
            throw UsageError(what + " must be a number from " + trim(lo) + " to " + trim(hi));
        return r;
    }
    /// An option whose value must be one of `choices`; when absent, the table's default.
    std::string choice(const std::string& name, const std::vector<std::string>& choices) const {
        const std::string v = get(name, find(name)->fallback);
        if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
            std::string list;
            for (std::size_t i = 0; i < choices.size(); ++i) list += (i ? i + 1 == choices.size() ? " or " : ", " : "") + choices[i];
            throw UsageError("--" + name + " must be " + list);
        }
        return v;
    }
    const std::vector<std::string>& positional() const { return positional_; }
    const Command& command() const { return command_; }
    bool declares(const std::string& name) const { return find(name) != nullptr; }

private:
    const Option* find(const std::string& name) const {
        for (const Option& o : command_.options)
            if (o.name == name) return &o;
        return nullptr;
    }
    // a command that reads an option it did not declare is a bug of the tool, not of its user
    void declared(const std::string& name) const {
        if (!find(name)) throw std::logic_error("facekit " + command_.name + " reads undeclared option --" + name);
    }
    static std::string trim(double v) {
        std::string s = std::to_string(v);
        while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) s.pop_back();
        return s;
    }
    static std::string printable(std::string s) {
        for (char& c : s)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        return s;
    }

    const Command& command_;
    std::set<std::string> flags_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

}  // namespace cli
