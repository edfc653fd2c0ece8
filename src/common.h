// Error handling shared by every layer.
//
// Two tiers. lim::Error is thrown for bad user input, files and configuration, with a message
// that names the value and the fix. LIM_CHECK guards internal invariants and aborts with the
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

// Compiles a hot kernel for AVX-512, AVX2+FMA and baseline x86-64, and picks the best at load time
// (GCC/Clang function multiversioning through ifunc). Elsewhere a single version is built.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define LIM_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LIM_MULTIVERSION
#endif

#define LIM_CHECK(cond)                                                                   \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: internal check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
