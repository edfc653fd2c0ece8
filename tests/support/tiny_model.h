// Writes small random-weight GGUF models in the layouts of real architectures, for tests that
// need a whole model without downloading one.
#pragma once

#include <cstdint>
#include <string>

namespace lim::test {

struct TinyModelSpec {
  std::string arch = "llama";  // "llama", "qwen2" or "qwen3"; others are written as given
  int64_t n_layer = 6;
  int64_t n_embd = 64;
  int64_t n_head = 4;
  int64_t n_kv_head = 2;
  int64_t head_dim = 16;  // qwen3 models often differ from n_embd / n_head
  int64_t n_ff = 96;
  bool tied_embeddings = true;
  uint32_t seed = 1;
  std::string skip_tensor;  // leave this tensor out, to test the missing-tensor error
};

// Writes the model to path. The vocabulary is the 256 byte-level tokens plus <|endoftext|>,
// <|im_start|> and <|im_end|> as control tokens, with a handful of merges.
void write_tiny_model(const std::string& path, const TinyModelSpec& spec);

// A fresh path under the system temporary directory, unique per call.
std::string temp_path(const std::string& stem);

}  // namespace lim::test
