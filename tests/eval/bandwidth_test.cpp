#include "eval/bandwidth.h"

#include <gtest/gtest.h>

#include "support/tiny_model.h"

namespace lim {
namespace {

TEST(Bandwidth, WeightBytesCountEveryMatrixOnce) {
  test::TinyModelSpec spec;  // llama: F32 matrices, tied embeddings
  test::TinyModel model(spec);
  const ModelConfig& c = model->config();
  const double q_dim = double(spec.n_head * spec.head_dim);
  const double kv_dim = double(spec.n_kv_head * spec.head_dim);
  const double e = double(spec.n_embd);
  const double per_layer_weights = q_dim * e + 2 * kv_dim * e + e * q_dim + 3 * double(spec.n_ff) * e;
  const double per_layer_norms = 2 * e;
  const double expected =
      4.0 * (double(spec.n_layer) * (per_layer_weights + per_layer_norms) + double(c.n_vocab) * e + e);
  EXPECT_DOUBLE_EQ(decode_weight_bytes(*model), expected);
}

TEST(Bandwidth, KvBytesScaleWithRowsAndLayers) {
  test::TinyModelSpec spec;
  test::TinyModel model(spec);
  const double one = decode_kv_bytes(*model, 32, 1.0);
  EXPECT_DOUBLE_EQ(one, 2.0 * double(spec.n_layer * spec.n_kv_head) * 32.0);
  EXPECT_DOUBLE_EQ(decode_kv_bytes(*model, 32, 100.0), 100.0 * one);
  EXPECT_DOUBLE_EQ(decode_kv_bytes(*model, 64, 1.0), 2.0 * one);
}

TEST(Bandwidth, MeasuresAPositiveRate) {
  ThreadPool pool(2);
  const BandwidthMeasurement m = measure_read_bandwidth(pool, size_t(8) << 20, 3);
  EXPECT_EQ(m.buffer_bytes, size_t(8) << 20);
  EXPECT_EQ(m.repeats, 3);
  EXPECT_EQ(m.threads, 2);
  EXPECT_GT(m.median_bytes_per_second, 0.0);
  EXPECT_GE(m.bytes_per_second, m.median_bytes_per_second);
}

}  // namespace
}  // namespace lim
