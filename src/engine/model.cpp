#include "engine/model.h"

#include <algorithm>
#include <cmath>

#include "common.h"

namespace lim {

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> archs = {"llama", "qwen2", "qwen3"};
  return archs;
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Checks a tensor's ggml shape (innermost dimension first) against the configuration.
const GgufTensorInfo& expect_tensor(const GgufFile& file, const std::string& name,
                                    const std::vector<int64_t>& shape) {
  const GgufTensorInfo& info = file.tensor(name);
  if (info.shape != shape) {
    throw Error(file.path() + ": tensor " + name + " has shape " + shape_string(info.shape) +
                " but the model's metadata implies " + shape_string(shape) +
                "; the file is inconsistent or was converted for another configuration.");
  }
  return info;
}

MatrixView matrix(const GgufFile& file, const std::string& name, int64_t n_rows, int64_t n_cols) {
  const GgufTensorInfo& info = expect_tensor(file, name, {n_cols, n_rows});
  return MatrixView{info.type, info.data, n_rows, n_cols};
}

// Small tensors (norms, biases) are converted to float once at load.
std::vector<float> vector_f32(const GgufFile& file, const std::string& name, int64_t n) {
  const GgufTensorInfo& info = expect_tensor(file, name, {n});
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(info.type, info.data, out.data(), n);
  return out;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> model(new Model(GgufFile::open(path)));
  model->read_config();
  model->bind_weights();
  model->tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model->file_));
  if (model->tokenizer_->n_vocab() != model->config_.n_vocab) {
    throw Error(path + ": the tokenizer has " + std::to_string(model->tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(model->config_.n_vocab) +
                " rows; the file is inconsistent.");
  }
  return model;
}

void Model::read_config() {
  const std::string arch = file_.get_string("general.architecture");
  const auto& archs = supported_architectures();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end()) {
    throw Error(file_.path() + ": architecture '" + arch + "' is not supported; supported: " +
                join(archs) + ".");
  }

  ModelConfig& c = config_;
  c.arch = arch;
  c.name = file_.find_string("general.name").value_or(file_.path());
  c.n_layer = file_.get_int(arch + ".block_count");
  c.n_embd = file_.get_int(arch + ".embedding_length");
  c.n_ff = file_.get_int(arch + ".feed_forward_length");
  c.n_head = file_.get_int(arch + ".attention.head_count");
  c.n_kv_head = file_.find_int(arch + ".attention.head_count_kv").value_or(c.n_head);
  c.n_ctx_train = file_.find_int(arch + ".context_length").value_or(0);
  c.head_dim = file_.find_int(arch + ".attention.key_length").value_or(c.n_head > 0 ? c.n_embd / c.n_head : 0);
  c.n_rot = file_.find_int(arch + ".rope.dimension_count").value_or(c.head_dim);
  c.rope_base = static_cast<float>(file_.find_float(arch + ".rope.freq_base").value_or(10000.0));
  c.rms_eps = static_cast<float>(file_.get_float(arch + ".attention.layer_norm_rms_epsilon"));

  // llama.cpp's converter permutes Llama's Q and K rows so that RoPE rotates adjacent pairs;
  // Qwen checkpoints keep the Hugging Face layout, which rotates the two halves of a head.
  c.rope_layout = arch == "llama" ? RopeLayout::Interleaved : RopeLayout::Half;
  c.qkv_bias = arch == "qwen2";
  c.qk_norm = arch == "qwen3";

  const GgufTensorInfo& embd = file_.tensor("token_embd.weight");
  if (embd.shape.size() != 2) {
    throw Error(file_.path() + ": tensor token_embd.weight has shape " + shape_string(embd.shape) +
                "; expected two dimensions [n_embd, n_vocab].");
  }
  c.n_vocab = embd.shape[1];
  c.tied_embeddings = file_.find_tensor("output.weight") == nullptr;

  if (const auto value_length = file_.find_int(arch + ".attention.value_length");
      value_length && *value_length != c.head_dim) {
    throw Error(file_.path() + ": attention.value_length " + std::to_string(*value_length) +
                " differs from key_length " + std::to_string(c.head_dim) + "; this is not supported.");
  }
  c.validate();
}

void Model::bind_weights() {
  const ModelConfig& c = config_;
  token_embd = matrix(file_, "token_embd.weight", c.n_vocab, c.n_embd);
  output = c.tied_embeddings ? token_embd : matrix(file_, "output.weight", c.n_vocab, c.n_embd);
  output_norm = vector_f32(file_, "output_norm.weight", c.n_embd);

  layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights& l = layers[static_cast<size_t>(il)];
    l.attn_norm = vector_f32(file_, p + "attn_norm.weight", c.n_embd);
    l.wq = matrix(file_, p + "attn_q.weight", c.q_dim(), c.n_embd);
    l.wk = matrix(file_, p + "attn_k.weight", c.kv_dim(), c.n_embd);
    l.wv = matrix(file_, p + "attn_v.weight", c.kv_dim(), c.n_embd);
    l.wo = matrix(file_, p + "attn_output.weight", c.n_embd, c.q_dim());
    if (c.qkv_bias) {
      l.bq = vector_f32(file_, p + "attn_q.bias", c.q_dim());
      l.bk = vector_f32(file_, p + "attn_k.bias", c.kv_dim());
      l.bv = vector_f32(file_, p + "attn_v.bias", c.kv_dim());
    }
    if (c.qk_norm) {
      l.q_norm = vector_f32(file_, p + "attn_q_norm.weight", c.head_dim);
      l.k_norm = vector_f32(file_, p + "attn_k_norm.weight", c.head_dim);
    }
    l.ffn_norm = vector_f32(file_, p + "ffn_norm.weight", c.n_embd);
    l.w_gate = matrix(file_, p + "ffn_gate.weight", c.n_ff, c.n_embd);
    l.w_up = matrix(file_, p + "ffn_up.weight", c.n_ff, c.n_embd);
    l.w_down = matrix(file_, p + "ffn_down.weight", c.n_embd, c.n_ff);
  }

  // theta_i = base^(-2i / n_rot), optionally divided by per-frequency factors (Llama 3 scaling).
  rope_inv_freq.resize(static_cast<size_t>(c.n_rot / 2));
  std::vector<float> factors;
  if (file_.find_tensor("rope_freqs.weight")) factors = vector_f32(file_, "rope_freqs.weight", c.n_rot / 2);
  for (int64_t i = 0; i < c.n_rot / 2; ++i) {
    double inv = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.n_rot));
    if (!factors.empty()) inv /= factors[static_cast<size_t>(i)];
    rope_inv_freq[static_cast<size_t>(i)] = static_cast<float>(inv);
  }
}

}  // namespace lim
