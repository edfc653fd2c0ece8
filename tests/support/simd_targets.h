// Runs a test body once for every SIMD target that Highway compiled and this CPU supports, so
// that each version of a dynamically dispatched kernel is checked, not only the best one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

namespace lim::test {

// Calls body() with dispatch restricted to one target at a time (AVX-512, AVX2, down to the
// portable fallback), and restores the normal choice afterwards. Each call runs inside a
// SCOPED_TRACE naming the target, so a failure names the version that broke.
template <class Body>
void for_each_simd_target(Body&& body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("SIMD target ") + hwy::TargetName(target));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace lim::test
