#include "support/tiny_model.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <vector>

#include "formats/gguf_writer.h"
#include "formats/unicode.h"

namespace lim::test {

namespace {

class TensorMaker {
 public:
  TensorMaker(GgufWriter& writer, uint32_t seed, std::string skip) : writer_(writer), rng_(seed), skip_(std::move(skip)) {}

  // A weight of ggml shape {n_cols, n_rows}, normal with the given scale.
  void matrix(const std::string& name, int64_t n_rows, int64_t n_cols, float scale) {
    add(name, {n_cols, n_rows}, scale, 0.0f);
  }
  // A vector near `center` (norm weights around 1, biases around 0).
  void vector(const std::string& name, int64_t n, float scale, float center) { add(name, {n}, scale, center); }

 private:
  void add(const std::string& name, std::vector<int64_t> shape, float scale, float center) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> normal(center, scale);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) v = normal(rng_);
    if (name == skip_) return;
    writer_.add_tensor(name, DType::F32, shape, values.data(), values.size() * sizeof(float));
  }

  GgufWriter& writer_;
  std::mt19937 rng_;
  std::string skip_;
};

void write_vocab(GgufWriter& w) {
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(byte_level_encode(std::string(1, static_cast<char>(b))));
    types.push_back(1);  // NORMAL
  }
  const std::vector<std::pair<std::string, std::string>> merges = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}};
  std::vector<std::string> merge_lines;
  for (const auto& [left, right] : merges) {
    tokens.push_back(left + right);
    types.push_back(1);
    merge_lines.push_back(left + " " + right);
  }
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.push_back(special);
    types.push_back(3);  // CONTROL
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "smollm");
  w.set("tokenizer.ggml.tokens", gguf_string_array(tokens));
  w.set("tokenizer.ggml.token_type", gguf_int_array(GgufType::INT32, types));
  w.set("tokenizer.ggml.merges", gguf_string_array(merge_lines));
  w.set_uint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokens.size() - 3));
  w.set_uint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokens.size() - 3));
}

int64_t vocab_size() { return 256 + 4 + 3; }

}  // namespace

void write_tiny_model(const std::string& path, const TinyModelSpec& s) {
  GgufWriter w;
  const std::string& a = s.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", "tiny-" + a);
  w.set_uint32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.set_uint32(a + ".context_length", 2048);
  w.set_uint32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.set_uint32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.set_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_kv_head));
  w.set_uint32(a + ".attention.key_length", static_cast<uint32_t>(s.head_dim));
  w.set_uint32(a + ".attention.value_length", static_cast<uint32_t>(s.head_dim));
  w.set_uint32(a + ".rope.dimension_count", static_cast<uint32_t>(s.head_dim));
  w.set_float32(a + ".rope.freq_base", 10000.0f);
  w.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  write_vocab(w);

  const int64_t q_dim = s.n_head * s.head_dim;
  const int64_t kv_dim = s.n_kv_head * s.head_dim;
  TensorMaker t(w, s.seed, s.skip_tensor);
  t.matrix("token_embd.weight", vocab_size(), s.n_embd, 1.0f);
  if (!s.tied_embeddings) t.matrix("output.weight", vocab_size(), s.n_embd, 0.3f);
  t.vector("output_norm.weight", s.n_embd, 0.1f, 1.0f);
  for (int64_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    t.vector(p + "attn_norm.weight", s.n_embd, 0.1f, 1.0f);
    // Large Q/K scales give peaked attention, so sparse selection has something to find.
    t.matrix(p + "attn_q.weight", q_dim, s.n_embd, 0.5f);
    t.matrix(p + "attn_k.weight", kv_dim, s.n_embd, 0.5f);
    t.matrix(p + "attn_v.weight", kv_dim, s.n_embd, 0.2f);
    t.matrix(p + "attn_output.weight", s.n_embd, q_dim, 0.2f);
    if (a == "qwen2") {
      t.vector(p + "attn_q.bias", q_dim, 0.1f, 0.0f);
      t.vector(p + "attn_k.bias", kv_dim, 0.1f, 0.0f);
      t.vector(p + "attn_v.bias", kv_dim, 0.1f, 0.0f);
    }
    if (a == "qwen3") {
      t.vector(p + "attn_q_norm.weight", s.head_dim, 0.1f, 1.0f);
      t.vector(p + "attn_k_norm.weight", s.head_dim, 0.1f, 1.0f);
    }
    t.vector(p + "ffn_norm.weight", s.n_embd, 0.1f, 1.0f);
    t.matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, 0.2f);
    t.matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, 0.2f);
    t.matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, 0.2f);
  }
  w.write(path);
}

std::string temp_path(const std::string& stem) {
  static std::atomic<int> counter{0};
  return (std::filesystem::temp_directory_path() /
          (stem + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".gguf"))
      .string();
}

TinyModel::TinyModel(const TinyModelSpec& spec) : path_(temp_path("lim-tiny")) {
  write_tiny_model(path_, spec);
  model_ = Model::load(path_);
}

TinyModel::~TinyModel() { std::filesystem::remove(path_); }

std::vector<int32_t> token_sequence(int64_t n, int64_t n_vocab, uint32_t seed) {
  std::vector<int32_t> ids;
  uint32_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;  // a linear congruential generator, for reproducible ids
    ids.push_back(static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(n_vocab - 3)));
  }
  return ids;
}

std::vector<std::vector<float>> decode_all(Session& session, const std::vector<int32_t>& tokens, int64_t n_vocab) {
  std::vector<std::vector<float>> out;
  const float* logits = session.prefill(std::span<const int32_t>(tokens.data(), 1));
  out.emplace_back(logits, logits + n_vocab);
  for (size_t i = 1; i < tokens.size(); ++i) {
    logits = session.decode(tokens[i]);
    out.emplace_back(logits, logits + n_vocab);
  }
  return out;
}

}  // namespace lim::test
