#include "eval/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <vector>

#include "common.h"

namespace lim {

namespace {

// Sums 64-bit words; integer additions vectorize, so the loop is bound by memory, not by adds.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  }
  for (; i < n; ++i) acc[0] += p[i];
  uint64_t total = 0;
  for (uint64_t a : acc) total += a;
  return total;
}

double matrix_bytes(const MatrixView& m) {
  return static_cast<double>(row_bytes(m.type, m.n_cols)) * static_cast<double>(m.n_rows);
}

}  // namespace

BandwidthMeasurement measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes, int repeats) {
  LIM_CHECK(repeats >= 1);
  const size_t n_words = buffer_bytes / sizeof(uint64_t);
  std::vector<uint64_t> buffer;
  try {
    buffer.resize(n_words);
  } catch (const std::bad_alloc&) {
    throw Error("cannot allocate " + std::to_string(buffer_bytes >> 20) +
                " MiB to measure memory bandwidth; free memory or measure with a smaller buffer.");
  }
  // Distinct values, written once so every page is backed before timing.
  for (size_t i = 0; i < n_words; ++i) buffer[i] = i;

  std::vector<uint64_t> sums(static_cast<size_t>(pool.n_threads()));
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(n_words), [&](int64_t begin, int64_t end, int thread) {
      sums[static_cast<size_t>(thread)] += sum_words(buffer.data() + begin, static_cast<size_t>(end - begin));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(n_words * sizeof(uint64_t)) / seconds);
  }
  // The sums must be used, or the reads could be dropped.
  uint64_t check = 0;
  for (uint64_t s : sums) check += s;
  LIM_CHECK(check != 1);

  BandwidthMeasurement m;
  std::sort(rates.begin(), rates.end());
  m.bytes_per_second = rates.back();
  m.median_bytes_per_second = rates[rates.size() / 2];
  m.buffer_bytes = n_words * sizeof(uint64_t);
  m.repeats = repeats;
  m.threads = pool.n_threads();
  return m;
}

double decode_weight_bytes(const Model& model) {
  double bytes = matrix_bytes(model.output) + sizeof(float) * static_cast<double>(model.output_norm.size());
  for (const LayerWeights& l : model.layers) {
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) bytes += matrix_bytes(*m);
    const size_t floats = l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size() +
                          l.q_norm.size() + l.k_norm.size();
    bytes += sizeof(float) * static_cast<double>(floats);
  }
  return bytes;
}

double decode_kv_bytes(const Model& model, size_t kv_row_bytes, double rows_per_layer) {
  const ModelConfig& c = model.config();
  return 2.0 * static_cast<double>(c.n_layer * c.n_kv_head) * static_cast<double>(kv_row_bytes) * rows_per_layer;
}

}  // namespace lim
