// facekit/engine/error.hpp: the exception types the library throws.
// Every message names the file or argument at fault and says what is wrong, so that a command-line tool
// can print e.what() as its one line of diagnosis.
#pragma once
#include <stdexcept>
#include <string>

namespace facekit {

/// Base of every facekit exception.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A file (weights, image, gallery, pairs list) is unreadable, malformed or over a configured limit.
class FileError : public Error {
public:
    FileError(const std::string& file, const std::string& what)
        : Error(file + ": " + what), file_(file) {}
    const std::string& file() const noexcept { return file_; }

private:
    std::string file_;
};

/// A caller passed an argument the function cannot work with (bad shape, unknown option, …).
class InvalidArgument : public Error {
public:
    using Error::Error;
};

namespace detail {
[[noreturn]] inline void fail(const std::string& what) { throw InvalidArgument(what); }
inline void require(bool ok, const char* what) {
    if (!ok) fail(what);
}
}  // namespace detail
}  // namespace facekit
