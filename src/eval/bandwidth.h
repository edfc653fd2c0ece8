// The memory-bandwidth limit of decoding: how many bytes one decode step must read, and how fast
// this machine reads memory. Their ratio is the least time a step can take when reading memory
// is the bottleneck, which it is for a small model's decode step.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/model.h"
#include "ops/thread_pool.h"

namespace lim {

struct BandwidthMeasurement {
  double bytes_per_second = 0.0;  // best of the repetitions
  double median_bytes_per_second = 0.0;
  size_t buffer_bytes = 0;
  int repeats = 0;
  int threads = 0;
};

// Reads a buffer of buffer_bytes (far larger than the caches) with every pool thread, summing
// its words so the reads cannot be skipped, repeats times. Throws lim::Error when the buffer
// cannot be allocated.
BandwidthMeasurement measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = size_t(1) << 30, int repeats = 5);

// Bytes of the weight matrices a decode step reads: every layer's projections and the output
// projection, in their stored types, plus the norm vectors. The embedding row is negligible.
double decode_weight_bytes(const Model& model);

// Bytes of KV cache rows a decode step reads when it attends to `rows_per_layer` rows in each
// layer on average (keys and values of every KV head).
double decode_kv_bytes(const Model& model, size_t kv_row_bytes, double rows_per_layer);

}  // namespace lim
