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
// Chunks per thread: enough for running threads to absorb a descheduled worker's share, few
// enough that claiming costs little next to a chunk of work.
constexpr int64_t kChunksPerThread = 4;

uint32_t generation_of(uint64_t state) { return static_cast<uint32_t>(state >> 32); }
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) {
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  n_threads_ = n_threads;
  n_chunks_ = n_threads_ * kChunksPerThread;
  for (int i = 1; i < n_threads_; ++i) {
    workers_.emplace_back([this, i] { worker_loop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::work(int index, uint32_t generation) {
  uint64_t state = state_.load(std::memory_order_acquire);
  while (generation_of(state) == generation) {
    const int64_t chunk = static_cast<int64_t>(state & 0xFFFFFFFFu);
    if (chunk >= n_chunks_) return;
    if (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      continue;  // state now contains the current value
    }
    // The loop cannot end while this claimed chunk is unfinished, so its fields are stable.
    const int64_t begin = task_size_ * chunk / n_chunks_;
    const int64_t end = task_size_ * (chunk + 1) / n_chunks_;
    if (begin < end) task_(task_context_, begin, end, index);
    done_chunks_.fetch_add(1, std::memory_order_acq_rel);
    state = state_.load(std::memory_order_acquire);
  }
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
  done_chunks_.store(0, std::memory_order_relaxed);
  ++generation_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_.store(static_cast<uint64_t>(generation_) << 32, std::memory_order_release);
  }
  wake_.notify_all();

  work(0, generation_);
  // Spin while the workers finish their last chunks. After that, yield, because they may have
  // been descheduled (more busy threads than cores) and spinning would starve them.
  int spins = 0;
  while (done_chunks_.load(std::memory_order_acquire) != n_chunks_) {
    if (++spins < kSpinIterations) {
      LIM_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::worker_loop(int index) {
  uint32_t seen = 0;
  const auto has_news = [&] {
    return stop_.load(std::memory_order_acquire) ||
           generation_of(state_.load(std::memory_order_acquire)) != seen;
  };
  while (true) {
    int spins = 0;
    while (!has_news() && spins < kSpinIterations) {
      LIM_CPU_RELAX();
      ++spins;
    }
    if (!has_news()) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_news);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_of(state_.load(std::memory_order_acquire));
    work(index, seen);
  }
}

}  // namespace lim
