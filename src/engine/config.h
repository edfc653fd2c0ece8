// The dimension vocabulary and the model configuration, validated when a model loads.
//
// Names used across the engine (shapes are written outermost first):
//   n_layer    transformer blocks          n_embd     hidden size
//   n_head     query heads                 n_kv_head  key/value heads (grouped-query attention)
//   head_dim   elements per head           n_ff       MLP inner size
//   n_vocab    vocabulary size             n_ctx      KV cache capacity in tokens
//   budget     tokens a sparse layer attends to in one decode step (K)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/kernels.h"

namespace lim {

struct ModelConfig {
  std::string arch;  // GGUF general.architecture: "llama", "qwen2" or "qwen3"
  std::string name;  // general.name, or the checkpoint's path, for messages

  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_kv_head = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context length the model was trained for

  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  int64_t n_rot = 0;  // rotated elements per head (normally head_dim)
  RopeLayout rope_layout = RopeLayout::Interleaved;
  // [n_rot / 2] divisors of the inverse frequencies (Llama 3 scaling); empty without scaling.
  std::vector<float> rope_freq_factors;

  // Architecture quirks, as data: the forward pass reads these, never the architecture name.
  bool qkv_bias = false;        // qwen2: biases on the Q, K and V projections
  bool qk_norm = false;         // qwen3: RMSNorm over each q and k head before RoPE
  bool tied_embeddings = false; // output projection reuses token_embd

  int64_t n_group() const { return n_head / n_kv_head; }  // query heads per KV head
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_kv_head * head_dim; }

  // Throws lim::Error naming the field and value when the configuration cannot run.
  void validate() const;
};

}  // namespace lim
