// Reads a Hugging Face config.json into the engine's ModelConfig.
//
// Supported "architectures": Qwen3ForCausalLM, Qwen2ForCausalLM (Qwen2, Qwen2.5, DeepSeek-R1
// distills of Qwen) and LlamaForCausalLM (Llama 3, SmolLM2, DeepSeek-R1 distills of Llama).
// Both layouts of the RoPE fields are read: rope_theta and rope_scaling at the top level, as
// published checkpoints have them, and the rope_parameters object that transformers 5 writes.
// Weights keep the Hugging Face layout, so RoPE always rotates the two halves of a head.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"

namespace lim {

// Returns the configuration, validated. n_vocab is vocab_size, the number of embedding rows.
// Throws lim::Error naming the file and the field for invalid JSON, a missing or mistyped field,
// an unsupported architecture, activation, bias, sliding window or rope scaling type.
ModelConfig read_hf_config(const std::string& config_path);

// The sampling defaults of a checkpoint's generation_config.json. Fields the file leaves out, or
// that do_sample = false makes irrelevant, are empty.
struct GenerationDefaults {
  std::optional<float> temperature;  // 0 when do_sample is false (greedy)
  std::optional<float> top_p;
  std::optional<int64_t> top_k;
  std::vector<int32_t> eos_token_ids;  // eos_token_id, a number or a list
};

// Reads `dir`/generation_config.json. Returns empty defaults when the file does not exist.
// Throws lim::Error naming the file and the field for invalid JSON or a mistyped field.
GenerationDefaults read_generation_config(const std::string& dir);

// Llama 3 rope scaling: the divisor of each of the n_rot / 2 inverse frequencies, as llama.cpp
// writes them to rope_freqs.weight and transformers applies them (_compute_llama3_parameters).
std::vector<float> llama3_rope_factors(int64_t n_rot, float rope_base, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_context);

}  // namespace lim
