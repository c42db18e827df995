// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (a bad flag, a malformed task, an unknown id) are values,
// not exceptions. A Result holds either a T or an Error (a code and a message):
//
//   Result<Resources> r = Resources::parse("cpus:2;mem:1024");
//   if (!r) { std::cerr << r.error().message << "\n"; return 1; }
//   Resources res = *r;
//
// Result<void> carries only success or an Error.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace clusternodes {

// The few kinds of failure callers branch on.
enum class ErrorCode {
  kInvalid,      // the input is malformed or breaks a rule
  kNotFound,     // a named thing does not exist
  kDenied,       // the caller may not have it (a path outside what is served)
  kConflict,     // the thing exists already, or the state forbids it
  kUnavailable,  // a peer or a resource cannot be reached now; retrying may help
  kInternal,     // an environment failure (I/O, system call)
};

struct Error {
  ErrorCode code = ErrorCode::kInvalid;
  std::string message;
};

inline Error invalid(std::string message) { return {ErrorCode::kInvalid, std::move(message)}; }
inline Error notFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
inline Error internalError(std::string message) {
  return {ErrorCode::kInternal, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}   // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok().
  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace clusternodes
