// The attention policy interface: which rows each layer attends to in a decode step.
//
// A policy is created per session. In each decode step the session calls begin_step once, then
// role() for every layer. A DenseSelect layer attends to every row and hands its logits to
// select(). A Sparse layer first passes its own query to select_for_query(), then attends only to
// rows(layer, head). Prefill is dense in every layer and never consults the policy beyond
// on_append. Selection buffers belong to the policy and are sized at construction, so a decode
// step allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/kv_cache.h"

namespace lim {

enum class LayerRole {
  Dense,        // attend to all n_kv rows
  DenseSelect,  // attend to all rows and build the selection that later layers reuse
  Sparse,       // attend only to the rows of the current selection
};

// Rows that one query head attends to, in ascending position order.
struct RowSpan {
  const int32_t* rows = nullptr;
  int64_t n = 0;
};

// Model dimensions a policy needs; filled by the session.
struct PolicyDims {
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_kv_head = 0;
  int64_t n_ctx = 0;
  int64_t head_dim = 0;  // needed by policies that read queries or keys themselves
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;

  virtual std::string name() const = 0;

  // Starts a decode step; n_kv is the cache length including the new token (L).
  virtual void begin_step(int64_t n_kv) = 0;

  virtual LayerRole role(int64_t il) const = 0;

  // Whether layer il attends to a selection (rather than to everything) whenever the budget is
  // smaller than the context. Used to report attended tokens and recall per sparse layer.
  virtual bool is_sparse_layer(int64_t il) const = 0;

  // Called for every token written to the cache of layer il (prefill and decode), with its keys
  // [n_kv_head, head_dim] after RoPE.
  virtual void on_append(int64_t il, int64_t pos, const float* k) {}

  // Receives the scaled logits [n_head, n_kv] (row stride n_kv) of a DenseSelect layer.
  virtual void select(int64_t il, const float* logits) {}

  // Called in every Sparse layer before it attends, with that layer's queries q [n_head, head_dim]
  // (after q norm and RoPE) and the layer's cache, whose rows 0..n_kv-1 contain the keys after
  // RoPE. Policies that choose rows from the current layer's own query (Quest, the oracle,
  // LessIsMore with selection in every layer) select here, and the rest ignore it.
  virtual void select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) {}

  // Rows for query head `head` of Sparse layer il. Heads that return the same pointer share
  // their rows, and the session then reads each row once per KV head group.
  virtual RowSpan rows(int64_t il, int64_t head) const = 0;
};

// Dense attention: every layer attends to every cached row. The reference for all policies.
class DensePolicy final : public AttentionPolicy {
 public:
  std::string name() const override { return "dense"; }
  void begin_step(int64_t) override {}
  LayerRole role(int64_t) const override { return LayerRole::Dense; }
  bool is_sparse_layer(int64_t) const override { return false; }
  RowSpan rows(int64_t, int64_t) const override { return {}; }
};

}  // namespace lim
