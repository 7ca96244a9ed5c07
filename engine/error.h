// error.h — the one error type of branchy.
//
// Everything that can go wrong because of user input (a file, a flag, a shape)
// throws branchy::Error with a message that names the thing and the problem.
// Programs catch it at the top, print one line and exit non-zero; nothing
// calls abort() on user input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace branchy {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds the message from any streamable parts: fail("file ", path, ": bad magic").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}

}  // namespace branchy

// Checks a condition that depends on input (shapes, files, flags). Not for
// internal invariants only a bug could break: those use assert().
#define BRANCHY_CHECK(condition, ...)            \
  do {                                           \
    if (!(condition)) ::branchy::fail(__VA_ARGS__); \
  } while (0)
