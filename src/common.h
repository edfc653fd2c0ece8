// Error handling shared by every layer.
//
// Two tiers: lim::Error is thrown for bad user input, files and configuration, with a message
// that names the value and the fix; LIM_CHECK guards internal invariants and aborts with the
// file, line and condition, because a broken invariant is a bug, not an input problem.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace lim {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace lim

#define LIM_CHECK(cond)                                                                   \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: internal check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
