// StreamingLLM: attention sinks plus a window of the most recent tokens.
// Source: Xiao et al., "Efficient Streaming Language Models with Attention Sinks",
// arXiv 2309.17453. Here it keeps the whole KV cache and only restricts which rows sparse layers
// read, inside the same layer structure as the other policies (dense below the first sparse
// layer). This is the "100% recent" ablation of LessIsMore (arXiv 2508.07101).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/policy.h"

namespace lim {

struct StreamingParams {
  int64_t budget = 2048;          // K: rows each sparse layer reads
  int64_t sinks = 4;              // leading tokens kept; the window gets K - sinks
  int64_t first_sparse_layer = 2;
};

// The positions a StreamingLLM step with n_kv cached tokens reads when budget < n_kv:
// {0 .. s-1} U {n_kv - (budget - s) .. n_kv - 1}, with s = min(sinks, budget - 1) so that the
// window always contains the current token.
struct StreamingWindow {
  int64_t sinks = 0;
  int64_t recent = 0;
};
StreamingWindow streaming_window(int64_t budget, int64_t sinks);

class StreamingPolicy final : public AttentionPolicy {
 public:
  StreamingPolicy(const StreamingParams& params, const PolicyDims& dims);

  std::string name() const override { return "streaming"; }
  void begin_step(int64_t n_kv) override;
  LayerRole role(int64_t il) const override;
  bool is_sparse_layer(int64_t il) const override;
  RowSpan rows(int64_t il, int64_t head) const override;

  const std::vector<int32_t>& selected() const { return selected_; }

 private:
  StreamingParams params_;
  PolicyDims dims_;
  std::vector<LayerRole> sparse_roles_;
  bool active_ = false;
  std::vector<int32_t> selected_;  // [budget], shared by every head
};

}  // namespace lim
