// A fixed pool of worker threads for the data-parallel loops of one forward pass.
//
// A decode step issues a few hundred short parallel loops, so the workers spin briefly on an
// atomic counter before sleeping, which keeps the wake-up cost well below a condition
// variable's. The calling thread takes part in every loop as thread 0.
//
// Each loop is cut into a fixed number of chunks per thread that threads claim one at a time.
// When another process occupies a worker's core, the running threads claim its chunks. One
// descheduled worker then delays a loop by at most the chunk it is in, not by a whole scheduler
// time slice per loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lim {

class ThreadPool {
 public:
  // n_threads counts the calling thread; 0 means one thread per hardware thread.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Runs fn(begin, end, thread_index) over contiguous chunks that cover [0, n) and returns when
  // all are done. A thread runs its chunks one after another, so per-thread scratch indexed by
  // thread_index is safe. Not reentrant: fn must not call parallel_for. fn is called through a
  // plain pointer, never copied, so a call allocates nothing.
  template <class Fn>
  void parallel_for(int64_t n, const Fn& fn) {
    run(n, [](const void* context, int64_t begin, int64_t end, int thread) {
      (*static_cast<const Fn*>(context))(begin, end, thread);
    }, &fn);
  }

 private:
  using Task = void (*)(const void* context, int64_t begin, int64_t end, int thread);
  void run(int64_t n, Task task, const void* context);
  void worker_loop(int index);
  // Claims and runs chunks of loop `generation` until none is left.
  void work(int index, uint32_t generation);

  int n_threads_ = 1;
  int64_t n_chunks_ = 1;  // chunks per loop, fixed for the pool
  std::vector<std::thread> workers_;
  // The current loop, written by the calling thread before it publishes the loop's generation.
  Task task_ = nullptr;
  const void* task_context_ = nullptr;
  int64_t task_size_ = 0;
  uint32_t generation_ = 0;  // the calling thread's count of loops
  // The loop's generation in the high 32 bits and the next unclaimed chunk in the low 32 bits,
  // so a thread that wakes late cannot claim a chunk of a loop that has ended.
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_chunks_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace lim
