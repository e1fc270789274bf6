// result.hpp - a value or an error, for functions that report bad input or a failed
// system call without exceptions (the I/O path and every parser use it).
// Error carries a sysexits code (for programs) and a message; parsers of SMTP input
// return their own richer error types (ReplyOr, lib/mail/reply.hpp: the same ValueOr).
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "lib/core/sysexits.hpp"

namespace tegami {

struct Error {
    Exit exit = Exit::software;
    std::string message;
};

// A value or an error of type E: Result below (E = Error) and ReplyOr (E = Reply,
// lib/mail/reply.hpp) are this one class.
template <typename T, typename E>
class [[nodiscard]] ValueOr {
  public:
    ValueOr(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    ValueOr(E error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const E& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, E> v_;
};

template <typename T>
class [[nodiscard]] Result : public ValueOr<T, Error> {
  public:
    using ValueOr<T, Error>::ValueOr;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }

  private:
    Error err_;
    bool ok_ = true;
};

inline Error make_error(Exit exit, std::string message) {
    return Error{exit, std::move(message)};
}

// "what: strerror(errno)" for a failed system call, as EX_OSERR unless told otherwise.
Error sys_error(const std::string& what, int err, Exit exit = Exit::os_err);

}  // namespace tegami
