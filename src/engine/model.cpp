#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "common.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "formats/tokenizer_json.h"

namespace lim {

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> archs = {"llama", "qwen2", "qwen3"};
  return archs;
}

// One stored tensor: its type, data and shape, outermost dimension first.
struct TensorRef {
  std::string stored_name;  // as the file spells it, for messages
  DType type = DType::F32;
  const void* data = nullptr;
  std::vector<int64_t> shape;
};

// Looks tensors up by their GGUF names ("blk.0.attn_q.weight") in the file that contains them.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::optional<TensorRef> find(const std::string& name) const = 0;
  virtual const std::string& path() const = 0;
  // The name the file uses for a tensor, for messages.
  virtual std::string stored_name(const std::string& name) const { return name; }

  // Throws lim::Error naming the file and the tensor when it is absent.
  TensorRef get(const std::string& name) const {
    if (auto t = find(name)) return *t;
    throw Error(path() + ": tensor " + stored_name(name) +
                " is missing; the model is incomplete or of another architecture.");
  }
};

namespace {

class GgufSource final : public WeightSource {
 public:
  explicit GgufSource(GgufFile file) : file_(std::move(file)) {}
  const GgufFile& file() const { return file_; }
  GgufFile& file() { return file_; }
  const std::string& path() const override { return file_.path(); }

  std::optional<TensorRef> find(const std::string& name) const override {
    const GgufTensorInfo* info = file_.find_tensor(name);
    if (!info) return std::nullopt;
    // ggml lists the innermost dimension first.
    return TensorRef{name, info->type, info->data, std::vector<int64_t>(info->shape.rbegin(), info->shape.rend())};
  }

 private:
  GgufFile file_;
};

// Hugging Face names of the GGUF tensors this engine reads, per layer ("blk.N." prefix removed).
const std::vector<std::pair<std::string, std::string>>& hf_layer_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  return names;
}

// Maps a GGUF tensor name to the Hugging Face name of the same weight.
std::string hf_name(const std::string& name) {
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  if (name.rfind("blk.", 0) == 0) {
    const size_t dot = name.find('.', 4);
    const std::string suffix = name.substr(dot + 1);
    for (const auto& [gguf, hf] : hf_layer_names()) {
      if (gguf == suffix) return "model.layers." + name.substr(4, dot - 4) + "." + hf;
    }
  }
  return name;
}

class SafetensorsSource final : public WeightSource {
 public:
  explicit SafetensorsSource(SafetensorsCheckpoint checkpoint) : checkpoint_(std::move(checkpoint)) {}
  const std::string& path() const override { return checkpoint_.path(); }
  std::string stored_name(const std::string& name) const override { return hf_name(name); }

  std::optional<TensorRef> find(const std::string& name) const override {
    const SafetensorsTensor* t = checkpoint_.find(hf_name(name));
    if (!t) return std::nullopt;
    return TensorRef{t->name + " in " + t->file, t->type, t->data, t->shape};
  }

 private:
  SafetensorsCheckpoint checkpoint_;
};

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

// Returns a tensor after checking its shape (outermost first) against the configuration.
TensorRef expect_tensor(const WeightSource& source, const std::string& name, const std::vector<int64_t>& shape) {
  TensorRef t = source.get(name);
  if (t.shape != shape) {
    throw Error(source.path() + ": tensor " + t.stored_name + " has shape " + shape_string(t.shape) +
                " but the model's configuration implies " + shape_string(shape) +
                "; the file is inconsistent or was converted for another configuration.");
  }
  return t;
}

MatrixView matrix(const WeightSource& source, const std::string& name, int64_t n_rows, int64_t n_cols) {
  const TensorRef t = expect_tensor(source, name, {n_rows, n_cols});
  return MatrixView{t.type, t.data, n_rows, n_cols};
}

// Small tensors (norms, biases) are converted to float once at load.
std::vector<float> vector_f32(const WeightSource& source, const std::string& name, int64_t n) {
  const TensorRef t = expect_tensor(source, name, {n});
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t.type, t.data, out.data(), n);
  return out;
}

// Reads the configuration from GGUF metadata.
ModelConfig read_gguf_config(const GgufSource& source) {
  const GgufFile& file = source.file();
  const std::string arch = file.get_string("general.architecture");
  const auto& archs = supported_architectures();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end()) {
    throw Error(file.path() + ": architecture '" + arch + "' is not supported; supported: " + join(archs) + ".");
  }

  ModelConfig c;
  c.arch = arch;
  c.name = file.find_string("general.name").value_or(file.path());
  c.n_layer = file.get_int(arch + ".block_count");
  c.n_embd = file.get_int(arch + ".embedding_length");
  c.n_ff = file.get_int(arch + ".feed_forward_length");
  c.n_head = file.get_int(arch + ".attention.head_count");
  c.n_kv_head = file.find_int(arch + ".attention.head_count_kv").value_or(c.n_head);
  c.n_ctx_train = file.find_int(arch + ".context_length").value_or(0);
  c.head_dim = file.find_int(arch + ".attention.key_length").value_or(c.n_head > 0 ? c.n_embd / c.n_head : 0);
  c.n_rot = file.find_int(arch + ".rope.dimension_count").value_or(c.head_dim);
  c.rope_base = static_cast<float>(file.find_float(arch + ".rope.freq_base").value_or(10000.0));
  c.rms_eps = static_cast<float>(file.get_float(arch + ".attention.layer_norm_rms_epsilon"));

  // llama.cpp's converter permutes Llama's Q and K rows so that RoPE rotates adjacent pairs;
  // Qwen checkpoints keep the Hugging Face layout, which rotates the two halves of a head.
  c.rope_layout = arch == "llama" ? RopeLayout::Interleaved : RopeLayout::Half;
  c.qkv_bias = arch == "qwen2";
  c.qk_norm = arch == "qwen3";

  const GgufTensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.shape.size() != 2) {
    throw Error(file.path() + ": tensor token_embd.weight has shape " + shape_string(embd.shape) +
                "; expected two dimensions [n_embd, n_vocab].");
  }
  c.n_vocab = embd.shape[1];
  c.tied_embeddings = file.find_tensor("output.weight") == nullptr;

  if (const auto value_length = file.find_int(arch + ".attention.value_length");
      value_length && *value_length != c.head_dim) {
    throw Error(file.path() + ": attention.value_length " + std::to_string(*value_length) +
                " differs from key_length " + std::to_string(c.head_dim) + "; this is not supported.");
  }
  // Llama 3 rope scaling, as llama.cpp's converter stores it.
  if (file.find_tensor("rope_freqs.weight") && c.n_rot > 0) {
    c.rope_freq_factors = vector_f32(source, "rope_freqs.weight", c.n_rot / 2);
  }
  c.validate();
  return c;
}

// Checkpoints often have more embedding rows than tokens (Qwen rounds the vocabulary up for
// efficient kernels). The missing ids become unused entries, as llama.cpp's converter writes them.
void pad_vocab(VocabData& vocab, int64_t n_vocab, const std::string& dir) {
  const int64_t n_tokens = static_cast<int64_t>(vocab.tokens.size());
  if (n_tokens > n_vocab) {
    throw Error(dir + ": tokenizer.json has " + std::to_string(n_tokens) + " tokens but the embedding has only " +
                std::to_string(n_vocab) + " rows; the checkpoint is inconsistent.");
  }
  if (vocab.token_types.empty()) vocab.token_types.assign(vocab.tokens.size(), TokenType::NORMAL);
  for (int64_t id = n_tokens; id < n_vocab; ++id) {
    vocab.tokens.push_back("[PAD" + std::to_string(id) + "]");
    vocab.token_types.push_back(TokenType::UNUSED);
  }
}

}  // namespace

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path) {
  const std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return load_hf(path);
  // A file from inside a Hugging Face checkpoint: the model is the directory.
  if (p.filename() == "config.json" || p.extension() == ".safetensors") {
    throw Error(path + ": a Hugging Face model is loaded from its directory; pass " +
                p.parent_path().string() + " instead.");
  }
  return load_gguf(path);
}

std::unique_ptr<Model> Model::load_gguf(const std::string& path) {
  auto source = std::make_unique<GgufSource>(GgufFile::open(path));
  std::unique_ptr<Model> model(new Model());
  model->config_ = read_gguf_config(*source);
  model->tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(source->file()));
  // The tokenizer has copied what it needs from the metadata arrays.
  source->file().release_metadata_arrays();
  model->weights_ = std::move(source);
  model->bind_weights();
  if (model->tokenizer_->n_vocab() != model->config_.n_vocab) {
    throw Error(path + ": the tokenizer has " + std::to_string(model->tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(model->config_.n_vocab) +
                " rows; the file is inconsistent.");
  }
  return model;
}

std::unique_ptr<Model> Model::load_hf(const std::string& dir) {
  const std::filesystem::path root(dir);
  std::unique_ptr<Model> model(new Model());
  model->config_ = read_hf_config((root / "config.json").string());
  model->weights_ = std::make_unique<SafetensorsSource>(SafetensorsCheckpoint::open(dir));
  model->bind_weights();
  VocabData vocab = read_tokenizer_json(dir);
  pad_vocab(vocab, model->config_.n_vocab, dir);
  model->tokenizer_ = std::make_unique<Tokenizer>(std::move(vocab));
  return model;
}

void Model::bind_weights() {
  const ModelConfig& c = config_;
  const WeightSource& w = *weights_;
  token_embd = matrix(w, "token_embd.weight", c.n_vocab, c.n_embd);
  output = c.tied_embeddings ? token_embd : matrix(w, "output.weight", c.n_vocab, c.n_embd);
  output_norm = vector_f32(w, "output_norm.weight", c.n_embd);

  layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights& l = layers[static_cast<size_t>(il)];
    l.attn_norm = vector_f32(w, p + "attn_norm.weight", c.n_embd);
    l.wq = matrix(w, p + "attn_q.weight", c.q_dim(), c.n_embd);
    l.wk = matrix(w, p + "attn_k.weight", c.kv_dim(), c.n_embd);
    l.wv = matrix(w, p + "attn_v.weight", c.kv_dim(), c.n_embd);
    l.wo = matrix(w, p + "attn_output.weight", c.n_embd, c.q_dim());
    if (c.qkv_bias) {
      l.bq = vector_f32(w, p + "attn_q.bias", c.q_dim());
      l.bk = vector_f32(w, p + "attn_k.bias", c.kv_dim());
      l.bv = vector_f32(w, p + "attn_v.bias", c.kv_dim());
    }
    if (c.qk_norm) {
      l.q_norm = vector_f32(w, p + "attn_q_norm.weight", c.head_dim);
      l.k_norm = vector_f32(w, p + "attn_k_norm.weight", c.head_dim);
    }
    l.ffn_norm = vector_f32(w, p + "ffn_norm.weight", c.n_embd);
    l.w_gate = matrix(w, p + "ffn_gate.weight", c.n_ff, c.n_embd);
    l.w_up = matrix(w, p + "ffn_up.weight", c.n_ff, c.n_embd);
    l.w_down = matrix(w, p + "ffn_down.weight", c.n_embd, c.n_ff);
  }

  // theta_i = base^(-2i / n_rot), divided by per-frequency factors under Llama 3 scaling.
  rope_inv_freq.resize(static_cast<size_t>(c.n_rot / 2));
  for (int64_t i = 0; i < c.n_rot / 2; ++i) {
    double inv = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.n_rot));
    if (!c.rope_freq_factors.empty()) inv /= c.rope_freq_factors[static_cast<size_t>(i)];
    rope_inv_freq[static_cast<size_t>(i)] = static_cast<float>(inv);
  }
}

}  // namespace lim
