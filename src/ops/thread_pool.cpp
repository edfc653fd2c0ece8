#include "ops/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LIM_CPU_RELAX() _mm_pause()
#else
#define LIM_CPU_RELAX() std::this_thread::yield()
#endif

namespace lim {

namespace {
// Spin iterations before a waiting worker sleeps; about 50 us on a current x86 core.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) {
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) {
    workers_.emplace_back([this, i] { worker_loop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_chunk(int index) {
  const int64_t chunk = (task_size_ + n_threads_ - 1) / n_threads_;
  const int64_t begin = std::min<int64_t>(task_size_, chunk * index);
  const int64_t end = std::min<int64_t>(task_size_, begin + chunk);
  if (begin < end) task_(task_context_, begin, end, index);
}

void ThreadPool::run(int64_t n, Task task, const void* context) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    task(context, 0, n, 0);
    return;
  }
  task_ = task;
  task_context_ = context;
  task_size_ = n;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();

  run_chunk(0);
  // Spin while the workers are likely running. After that, yield, because they may have been
  // descheduled (more busy threads than cores) and spinning would starve them.
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIterations) {
      LIM_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  task_ = nullptr;
  task_context_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      LIM_CPU_RELAX();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    run_chunk(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace lim
