// A decoder-only transformer of the Llama family, loaded from a GGUF file or a Hugging Face
// checkpoint directory (config.json, safetensors weights, tokenizer.json).
//
// One forward pass serves `llama` (SmolLM2, Llama), `qwen2` (adds QKV biases) and `qwen3` (adds a
// per-head RMSNorm on q and k before RoPE). The differences are fields of ModelConfig. Weights
// stay in their stored type (F32, F16, BF16 or a GGUF block type) in the file's mapping.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"
#include "ops/kernels.h"

namespace lim {

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  MatrixView wq;                 // [q_dim, n_embd]
  MatrixView wk;                 // [kv_dim, n_embd]
  MatrixView wv;                 // [kv_dim, n_embd]
  MatrixView wo;                 // [n_embd, q_dim]
  std::vector<float> bq, bk, bv; // [q_dim], [kv_dim], [kv_dim]; empty without qkv_bias
  std::vector<float> q_norm;     // [head_dim]; empty without qk_norm
  std::vector<float> k_norm;     // [head_dim]; empty without qk_norm
  std::vector<float> ffn_norm;   // [n_embd]
  MatrixView w_gate;             // [n_ff, n_embd]
  MatrixView w_up;               // [n_ff, n_embd]
  MatrixView w_down;             // [n_embd, n_ff]
};

// Tensors by their GGUF names, from whichever file format contains them; defined in model.cpp.
class WeightSource;

class Model {
 public:
  // Opens and validates a model: a GGUF file, or a directory with config.json, model.safetensors
  // (or model.safetensors.index.json and its shards) and tokenizer.json. Throws lim::Error naming
  // the file and, where it applies, the tensor, metadata key or config field, for an unsupported
  // architecture, a missing tensor or a tensor whose shape does not match the configuration.
  static std::unique_ptr<Model> load(const std::string& path);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

  MatrixView token_embd;           // [n_vocab, n_embd]
  MatrixView output;               // [n_vocab, n_embd]; token_embd when tied
  std::vector<float> output_norm;  // [n_embd]
  std::vector<LayerWeights> layers;
  std::vector<float> rope_inv_freq;  // [n_rot / 2]

 private:
  Model() = default;
  static std::unique_ptr<Model> load_gguf(const std::string& path);
  static std::unique_ptr<Model> load_hf(const std::string& dir);
  void bind_weights();

  std::unique_ptr<WeightSource> weights_;  // owns the mappings the views point into
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

// Architectures this build can run, for messages.
const std::vector<std::string>& supported_architectures();

}  // namespace lim
