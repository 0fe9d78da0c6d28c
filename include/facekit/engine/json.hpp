// facekit/engine/json.hpp: a strict JSON reader (RFC 8259) and a small writer.
// Strict means: no trailing commas, no comments, no duplicate keys, no trailing bytes, nesting bounded.
// It reads safetensors headers, so it must refuse anything malformed rather than guess.
#pragma once
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"

namespace facekit {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };
    using Array = std::vector<Json>;
    using Object = std::vector<std::pair<std::string, Json>>;  // in document order

    Json() = default;
    Type type() const noexcept { return type_; }
    bool is_null() const noexcept { return type_ == Type::Null; }
    bool is_bool() const noexcept { return type_ == Type::Bool; }
    bool is_number() const noexcept { return type_ == Type::Number; }
    bool is_string() const noexcept { return type_ == Type::String; }
    bool is_array() const noexcept { return type_ == Type::Array; }
    bool is_object() const noexcept { return type_ == Type::Object; }

    bool boolean() const { return check(Type::Bool, "a boolean"), bool_; }
    double number() const { return check(Type::Number, "a number"), num_; }
    const std::string& string() const { return check(Type::String, "a string"), str_; }
    const Array& array() const { return check(Type::Array, "an array"), arr_; }
    const Object& object() const { return check(Type::Object, "an object"), obj_; }
    /// The number as an integer, if it was written as one (no fraction or exponent) and fits.
    bool is_integer() const noexcept { return type_ == Type::Number && integral_; }
    std::int64_t integer() const {
        if (!is_integer()) FACEKIT_THROW(Error("JSON: expected an integer"));
        return int_;
    }
    /// The value of `key` in an object, or null: a binary search over the keys (sorted once when parsed),
    /// so that a header with a million keys is read in O(n log n), not O(n²).
    const Json* find(std::string_view key) const {
        if (type_ != Type::Object) return nullptr;
        auto it = std::lower_bound(by_key_.begin(), by_key_.end(), key,
                                   [&](std::uint32_t i, std::string_view k) { return obj_[i].first < k; });
        return it != by_key_.end() && obj_[*it].first == key ? &obj_[*it].second : nullptr;
    }
    const Json& at(std::string_view key) const {
        const Json* j = find(key);
        if (!j) FACEKIT_THROW(Error("JSON: missing key \"" + std::string(key) + "\""));
        return *j;
    }
    const Json& operator[](std::size_t i) const {
        if (i >= array().size()) FACEKIT_THROW(Error("JSON: index out of range"));
        return arr_[i];
    }

    /// Parses a whole document; raises facekit::Error("JSON: <what> at byte N") on any violation.
    static Json parse(std::string_view text, int max_depth = 64) {
        Json j;
        std::string error;
        if (!try_parse(text, j, error, max_depth)) FACEKIT_THROW(Error(error));
        return j;
    }
    /// The same without raising: false, with the message in `error`, on any violation.
    static bool try_parse(std::string_view text, Json& out, std::string& error, int max_depth = 64) {
        Parser p{text, 0, max_depth, {}};
        p.skip_ws();
        out = p.value(0);
        p.skip_ws();
        if (p.ok() && p.pos != text.size()) p.fail("unexpected data after the document");
        if (!p.ok()) {
            error = std::move(p.error);
            out = Json();
            return false;
        }
        return true;
    }

private:
    void check(Type t, const char* what) const {
        if (type_ != t) FACEKIT_THROW(Error(std::string("JSON: expected ") + what));
    }

    struct Parser {
        std::string_view s;
        std::size_t pos;
        int max_depth;
        std::string error;  // the first violation; once set, the parse unwinds by returning

        // Records the first violation and moves to the end of the input, so that every loop stops.
        void fail(const std::string& what) {
            if (error.empty()) error = "JSON: " + what + " at byte " + std::to_string(pos);
            pos = s.size();
        }
        bool ok() const noexcept { return error.empty(); }
        void skip_ws() {
            while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) ++pos;
        }
        bool eat(char c) {
            if (pos < s.size() && s[pos] == c) return ++pos, true;
            return false;
        }
        void expect(std::string_view word) {
            if (s.substr(pos, word.size()) != word) return fail("invalid literal");
            pos += word.size();
        }
        Json value(int depth) {
            Json j;
            if (depth > max_depth) return fail("nesting too deep"), j;
            if (pos >= s.size()) return fail("unexpected end of input"), j;
            switch (s[pos]) {
                case '{': j.type_ = Type::Object, object(j, depth); break;
                case '[': j.type_ = Type::Array, array(j, depth); break;
                case '"': j.type_ = Type::String, j.str_ = string(); break;
                case 't': expect("true"), j.type_ = Type::Bool, j.bool_ = true; break;
                case 'f': expect("false"), j.type_ = Type::Bool, j.bool_ = false; break;
                case 'n': expect("null"); break;
                default: number(j);
            }
            return j;
        }
        void object(Json& j, int depth) {
            ++pos;
            skip_ws();
            if (eat('}')) return;
            for (;;) {
                skip_ws();
                if (pos >= s.size() || s[pos] != '"') return fail("expected a string key");
                std::string key = string();
                skip_ws();
                if (!eat(':')) return fail("expected ':'");
                skip_ws();
                j.obj_.emplace_back(std::move(key), value(depth + 1));
                if (!ok()) return;
                skip_ws();
                if (eat('}')) return index_keys(j);
                if (!eat(',')) return fail("expected ',' or '}'");
            }
        }
        /// Sorts the object's keys for find(); two equal neighbours are a duplicate key.
        void index_keys(Json& j) {
            if (j.obj_.size() > UINT32_MAX) return fail("object too large");
            j.by_key_.resize(j.obj_.size());
            for (std::size_t i = 0; i < j.by_key_.size(); ++i) j.by_key_[i] = std::uint32_t(i);
            const auto& o = j.obj_;
            std::sort(j.by_key_.begin(), j.by_key_.end(), [&](std::uint32_t a, std::uint32_t b) {
                return o[a].first != o[b].first ? o[a].first < o[b].first : a < b;
            });
            for (std::size_t i = 1; i < j.by_key_.size(); ++i)
                if (o[j.by_key_[i]].first == o[j.by_key_[i - 1]].first) return fail("duplicate key \"" + o[j.by_key_[i]].first + "\"");
        }
        void array(Json& j, int depth) {
            ++pos;
            skip_ws();
            if (eat(']')) return;
            for (;;) {
                skip_ws();
                j.arr_.push_back(value(depth + 1));
                if (!ok()) return;
                skip_ws();
                if (eat(']')) return;
                if (!eat(',')) return fail("expected ',' or ']'");
            }
        }
        unsigned hex4() {
            if (pos + 4 > s.size()) return fail("truncated \\u escape"), 0u;
            unsigned v = 0;
            for (int i = 0; i < 4; ++i) {
                char c = s[pos++];
                v <<= 4;
                if (c >= '0' && c <= '9') v |= unsigned(c - '0');
                else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
                else return fail("invalid \\u escape"), 0u;
            }
            return v;
        }
        static void utf8(std::string& out, unsigned cp) {
            if (cp < 0x80) out += char(cp);
            else if (cp < 0x800) out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
            else if (cp < 0x10000)
                out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
            else
                out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F)),
                    out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
        }
        std::string string() {
            ++pos;  // opening quote
            std::string out;
            for (;;) {
                if (pos >= s.size()) return fail("unterminated string"), out;
                unsigned char c = static_cast<unsigned char>(s[pos++]);
                if (c == '"') return out;
                if (c < 0x20) return fail("control character in string"), out;
                if (c != '\\') {
                    out += char(c);
                    continue;
                }
                if (pos >= s.size()) return fail("unterminated escape"), out;
                switch (s[pos++]) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        unsigned cp = hex4();
                        if (!ok()) return out;
                        if (cp >= 0xD800 && cp < 0xDC00) {
                            if (!(eat('\\') && eat('u'))) return fail("unpaired surrogate"), out;
                            unsigned lo = hex4();
                            if (!ok()) return out;
                            if (lo < 0xDC00 || lo >= 0xE000) return fail("unpaired surrogate"), out;
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        } else if (cp >= 0xDC00 && cp < 0xE000) {
                            return fail("unpaired surrogate"), out;
                        }
                        utf8(out, cp);
                        break;
                    }
                    default: return fail("invalid escape"), out;
                }
            }
        }
        void number(Json& j) {
            std::size_t start = pos;
            eat('-');
            if (pos >= s.size() || !(s[pos] >= '0' && s[pos] <= '9')) return fail("invalid value");
            if (s[pos] == '0') ++pos;
            else
                while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
            bool integral = true;
            if (eat('.')) {
                integral = false;
                if (pos >= s.size() || !(s[pos] >= '0' && s[pos] <= '9')) return fail("invalid number");
                while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
            }
            if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
                integral = false;
                ++pos;
                if (!eat('+')) eat('-');
                if (pos >= s.size() || !(s[pos] >= '0' && s[pos] <= '9')) return fail("invalid number");
                while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
            }
            std::string text(s.substr(start, pos - start));
            j.type_ = Type::Number;
            j.num_ = std::strtod(text.c_str(), nullptr);
            if (!std::isfinite(j.num_)) return fail("number out of range");
            if (integral) {
                errno = 0;
                long long v = std::strtoll(text.c_str(), nullptr, 10);
                j.integral_ = errno == 0;
                j.int_ = v;
            }
        }
    };

    Type type_ = Type::Null;
    bool bool_ = false;
    bool integral_ = false;
    double num_ = 0;
    std::int64_t int_ = 0;
    std::string str_;
    Array arr_;
    Object obj_;
    std::vector<std::uint32_t> by_key_;  // obj_'s indices sorted by key
};

namespace json {
namespace detail {
/// The length (2–4) of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not one
/// (overlong forms, surrogates and code points past U+10FFFF are not well-formed).
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;
    return n;
}
}  // namespace detail

/// Appends s as a JSON string literal: always valid JSON, whatever the bytes (file names need not be UTF-8).
inline void write_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {  // a well-formed UTF-8 sequence is copied; any other byte becomes U+FFFD
            const std::size_t n = detail::utf8_sequence_length(s, i);
            out += n ? s.substr(i, n) : std::string_view("\xEF\xBF\xBD");
            i += n ? n : 1;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
        ++i;
    }
    out += '"';
}
/// Appends a number as the shortest text that reads back to the same float (or double).
inline void write_number(std::string& out, double v, bool as_float = true) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[40];
    for (int prec = as_float ? 6 : 15; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = std::strtod(buf, nullptr);
        if (as_float ? float(back) == float(v) : back == v) break;
    }
    out += buf;
}
}  // namespace json
}  // namespace facekit
