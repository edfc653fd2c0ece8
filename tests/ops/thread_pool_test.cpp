#include "ops/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace lim {
namespace {

// Thread counts include more threads than this machine has cores, where workers are often
// descheduled in the middle of a loop and the running threads take over their chunks.
TEST(ThreadPoolClaims, EveryIndexRunsExactlyOnceOverManyLoops) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 8, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int loop = 0; loop < 200; ++loop) {
        pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
          ASSERT_GE(thread, 0);
          ASSERT_LT(thread, threads);
          ASSERT_LT(begin, end);
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
      }
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 200) << threads << " threads, n " << n << ", index " << i;
      }
    }
  }
}

// A thread index is never used by two chunks at once, so per-thread scratch is safe.
TEST(ThreadPoolClaims, ThreadIndexIsNotSharedConcurrently) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> busy(4);
  std::atomic<int> overlaps{0};
  for (int loop = 0; loop < 300; ++loop) {
    pool.parallel_for(64, [&](int64_t begin, int64_t end, int thread) {
      if (busy[static_cast<size_t>(thread)].fetch_add(1) != 0) overlaps.fetch_add(1);
      volatile double sink = 0;
      for (int64_t i = begin; i < end; ++i) sink = sink + static_cast<double>(i);
      busy[static_cast<size_t>(thread)].fetch_sub(1);
    });
  }
  EXPECT_EQ(overlaps.load(), 0);
}

// Many short loops stay correct while a thread outside the pool competes for the cores, as
// another process would, so that workers are descheduled in the middle of loops.
TEST(ThreadPoolClaims, LoopsCompleteWhileOtherThreadsAreBusy) {
  ThreadPool pool(3);
  std::atomic<bool> release{false};
  std::thread blocker([&] {
    // Keeps one core busy for a while, as another process would.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (!release.load() && std::chrono::steady_clock::now() < until) {
    }
  });
  int64_t total = 0;
  for (int loop = 0; loop < 2000; ++loop) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for(12, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) sum.fetch_add(i);
    });
    total += sum.load();
  }
  release.store(true);
  blocker.join();
  EXPECT_EQ(total, 2000 * 66);
}

}  // namespace
}  // namespace lim
