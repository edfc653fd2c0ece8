// Writes small random-weight GGUF models in the layouts of real architectures, for tests that
// need a whole model without downloading one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/session.h"

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

// A tiny model written to a temporary file and loaded; the file is removed on destruction.
class TinyModel {
 public:
  explicit TinyModel(const TinyModelSpec& spec);
  ~TinyModel();
  TinyModel(const TinyModel&) = delete;
  TinyModel& operator=(const TinyModel&) = delete;
  const Model& operator*() const { return *model_; }
  const Model* operator->() const { return model_.get(); }

 private:
  std::string path_;
  std::unique_ptr<Model> model_;
};

// n pseudo-random token ids below n_vocab - 3 (the control tokens), the same for the same seed.
std::vector<int32_t> token_sequence(int64_t n, int64_t n_vocab, uint32_t seed);

// Prefills tokens[0], then decodes the rest one step at a time; returns every step's logits.
std::vector<std::vector<float>> decode_all(Session& session, const std::vector<int32_t>& tokens, int64_t n_vocab);

}  // namespace lim::test
