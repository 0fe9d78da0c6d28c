// facekit/engine/error.hpp: how facekit reports failure, with exceptions or without them.
//
// With exceptions (the default) every failure throws a facekit::Error (FileError, InvalidArgument), whose
// message names the file or argument at fault and says what is wrong, so that a command-line tool can print
// e.what() as its one line of diagnosis.
//
// Without exceptions (-fno-exceptions, detected from __cpp_exceptions; or FACEKIT_NO_EXCEPTIONS defined by
// the user) every such failure calls the error hook instead: by default it prints the message to stderr and
// aborts. A firmware installs its own with set_error_hook() (log, reset the board, …); the hook must not
// return, and if it does, facekit aborts. The functions that fail on *input* (decoding an image, opening a
// weights file, loading a network) also have a `try_` form that returns a Status instead, in both builds,
// so that a bad file is refused without aborting: see io/image.hpp, engine/safetensors.hpp,
// detect/mtcnn.hpp and embed/embedder.hpp.
#pragma once
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#if !defined(FACEKIT_NO_EXCEPTIONS) && !defined(__cpp_exceptions) && !defined(__EXCEPTIONS) && !defined(_CPPUNWIND)
#define FACEKIT_NO_EXCEPTIONS 1
#endif

/// Raises a facekit::Error (or a subclass): throws it, or without exceptions hands its message to the hook.
#define FACEKIT_THROW(error) ::facekit::detail::raise_error(error)

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

/// The outcome of a `try_` function: ok, or the error it would have raised (same kind, same message).
class Status {
public:
    enum class Kind { Ok, File, InvalidArgument };

    Status() = default;
    static Status file_error(const std::string& file, const std::string& what) {
        return Status(Kind::File, file + ": " + what, file);
    }
    static Status invalid_argument(const std::string& what) { return Status(Kind::InvalidArgument, what, {}); }

    bool ok() const noexcept { return kind_ == Kind::Ok; }
    explicit operator bool() const noexcept { return ok(); }
    Kind kind() const noexcept { return kind_; }
    /// The one-line diagnosis, as e.what() of the matching exception would give it ("" when ok).
    const std::string& message() const noexcept { return message_; }
    /// The file at fault, for a Kind::File error.
    const std::string& file() const noexcept { return file_; }

    /// Raises the error this status holds (FileError or InvalidArgument); does nothing when ok.
    void raise_if_error() const;

private:
    Status(Kind k, std::string message, std::string file) : kind_(k), message_(std::move(message)), file_(std::move(file)) {}
    Kind kind_ = Kind::Ok;
    std::string message_, file_;
};

/// Called with the message of every failure in a build without exceptions. Must not return.
using ErrorHook = void (*)(const char* message);

namespace detail {
[[noreturn]] inline void default_error_hook(const char* message) {
    std::fprintf(stderr, "facekit: %s\n", message);
    std::abort();
}
inline std::atomic<ErrorHook>& error_hook() {
    static std::atomic<ErrorHook> hook{&default_error_hook};
    return hook;
}

template <class E>
[[noreturn]] void raise_error(const E& e) {
#ifdef FACEKIT_NO_EXCEPTIONS
    error_hook().load()(e.what());
    std::abort();  // a hook that returns would let the caller run on with a broken invariant
#else
    throw e;
#endif
}

[[noreturn]] inline void fail(const std::string& what) { FACEKIT_THROW(InvalidArgument(what)); }
inline void require(bool ok, const char* what) {
    if (!ok) fail(what);
}
}  // namespace detail

/// Installs the hook that a build without exceptions calls on failure (nullptr restores the default:
/// print and abort); returns the previous one. Unused when exceptions are on.
inline ErrorHook set_error_hook(ErrorHook hook) noexcept {
    return detail::error_hook().exchange(hook ? hook : &detail::default_error_hook);
}

inline void Status::raise_if_error() const {
    if (kind_ == Kind::File) FACEKIT_THROW(FileError(file_, message_.substr(file_.size() + 2)));
    if (kind_ == Kind::InvalidArgument) FACEKIT_THROW(InvalidArgument(message_));
}

}  // namespace facekit
