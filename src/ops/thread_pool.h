// A fixed pool of worker threads for the data-parallel loops of one forward pass.
//
// A decode step issues a few hundred short parallel loops, so the workers spin briefly on an
// atomic generation counter before sleeping, which keeps the wake-up cost well below a
// condition variable's. The calling thread takes part in every loop as worker 0.
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

  // Runs fn(begin, end, thread_index) over [0, n) split into contiguous chunks, one per thread,
  // and returns when all chunks are done. Not reentrant: fn must not call parallel_for.
  // fn is called through a plain pointer, never copied, so a call allocates nothing.
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
  void run_chunk(int index);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  Task task_ = nullptr;
  const void* task_context_ = nullptr;
  int64_t task_size_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace lim
