#include "formats/hf_config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>

#include "common.h"

namespace lim {

namespace {

using nlohmann::json;

// The transformers class in "architectures", and the GGUF architecture name the engine uses
// for the same network.
const std::map<std::string, std::string>& architectures() {
  static const std::map<std::string, std::string> archs = {
      {"LlamaForCausalLM", "llama"},
      {"Qwen2ForCausalLM", "qwen2"},
      {"Qwen3ForCausalLM", "qwen3"},
  };
  return archs;
}

// Typed access to config.json fields with errors that name the file and the field.
class Fields {
 public:
  Fields(std::string path, const json& root) : path_(std::move(path)), root_(root) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(path_ + ": field " + field + " " + what + ".");
  }

  const json* find(const std::string& field) const {
    const auto it = root_.find(field);
    return it == root_.end() || it->is_null() ? nullptr : &*it;
  }

  int64_t get_int(const std::string& field) const {
    const json* v = find(field);
    if (!v) fail(field, "is missing");
    return as_int(field, *v);
  }
  int64_t get_int(const std::string& field, int64_t fallback) const {
    const json* v = find(field);
    return v ? as_int(field, *v) : fallback;
  }
  double get_float(const std::string& field, double fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_number()) fail(field, "is not a number");
    return v->get<double>();
  }
  bool get_bool(const std::string& field, bool fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(field, "is not true or false");
    return v->get<bool>();
  }
  std::string get_string(const std::string& field, const std::string& fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_string()) fail(field, "is not a string");
    return v->get<std::string>();
  }

 private:
  int64_t as_int(const std::string& field, const json& v) const {
    if (!v.is_number_integer()) fail(field, "is not an integer");
    return v.get<int64_t>();
  }

  std::string path_;
  const json& root_;
};

json parse_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": failed to open. A Hugging Face model directory needs config.json.");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

std::string architecture(const Fields& f) {
  const json* list = f.find("architectures");
  if (!list || !list->is_array() || list->size() != 1 || !(*list)[0].is_string()) {
    f.fail("architectures", "must list exactly one model class");
  }
  const std::string name = (*list)[0].get<std::string>();
  const auto it = architectures().find(name);
  if (it == architectures().end()) {
    std::string supported;
    for (const auto& [cls, _] : architectures()) supported += (supported.empty() ? "" : ", ") + cls;
    f.fail("architectures", "names " + name + ", which is not supported; supported: " + supported);
  }
  return it->second;
}

// Rejects the options of these classes that the forward pass does not implement.
void check_unsupported(const std::string& arch, const Fields& f) {
  if (const std::string act = f.get_string("hidden_act", "silu"); act != "silu") {
    f.fail("hidden_act", "is \"" + act + "\"; only silu is supported");
  }
  // Qwen2 always has Q/K/V biases and no output bias. In the other classes attention_bias adds
  // biases to all four projections, and the output bias is not implemented.
  if (arch != "qwen2" && f.get_bool("attention_bias", false)) f.fail("attention_bias", "is true, which is not supported");
  if (f.get_bool("mlp_bias", false)) f.fail("mlp_bias", "is true, which is not supported");
  if (f.get_bool("use_sliding_window", false)) {
    f.fail("use_sliding_window", "is true; sliding-window attention is not supported");
  }
}

// Reads rope_theta and rope_scaling (published checkpoints) or rope_parameters (transformers 5).
void read_rope(const std::string& path, const Fields& f, ModelConfig& c) {
  const json* params = f.find("rope_parameters");
  const json* scaling = params ? params : f.find("rope_scaling");
  const std::string field = params ? "rope_parameters" : "rope_scaling";
  c.rope_base = static_cast<float>(f.get_float("rope_theta", 10000.0));
  if (!scaling) return;
  if (!scaling->is_object()) f.fail(field, "is not an object");
  const Fields s(path + ": " + field, *scaling);
  if (params) c.rope_base = static_cast<float>(s.get_float("rope_theta", c.rope_base));
  // Older configs spell rope_type as "type".
  const std::string type = s.get_string("rope_type", s.get_string("type", "default"));
  if (type == "default") return;
  if (type != "llama3") {
    f.fail(field, "has rope_type \"" + type + "\"; supported: default, llama3");
  }
  c.rope_freq_factors = llama3_rope_factors(
      c.n_rot, c.rope_base, static_cast<float>(s.get_float("factor", 8.0)),
      static_cast<float>(s.get_float("low_freq_factor", 1.0)), static_cast<float>(s.get_float("high_freq_factor", 4.0)),
      static_cast<float>(s.get_float("original_max_position_embeddings", 8192.0)));
}

}  // namespace

std::vector<float> llama3_rope_factors(int64_t n_rot, float rope_base, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_context) {
  const double low_freq_wavelen = original_context / low_freq_factor;
  const double high_freq_wavelen = original_context / high_freq_factor;
  std::vector<float> factors(static_cast<size_t>(n_rot / 2));
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double inv_freq = std::pow(static_cast<double>(rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
    const double wavelen = 2.0 * std::numbers::pi / inv_freq;
    double divisor = 1.0;  // high frequencies are kept
    if (wavelen > low_freq_wavelen) {
      divisor = factor;  // low frequencies are divided by the full factor
    } else if (wavelen >= high_freq_wavelen) {
      // In between, interpolate the scaled frequency: (1 - smooth) * f / factor + smooth * f.
      const double smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    factors[static_cast<size_t>(i)] = static_cast<float>(divisor);
  }
  return factors;
}

GenerationDefaults read_generation_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  GenerationDefaults defaults;
  if (!std::filesystem::exists(path)) return defaults;
  const json root = parse_file(path);
  if (!root.is_object()) throw Error(path + ": not a JSON object.");
  const Fields f(path, root);

  if (!f.get_bool("do_sample", true)) {
    defaults.temperature = 0.0f;  // transformers decodes greedily and ignores the sampling fields
  } else {
    if (f.find("temperature")) defaults.temperature = static_cast<float>(f.get_float("temperature", 1.0));
    if (f.find("top_p")) defaults.top_p = static_cast<float>(f.get_float("top_p", 1.0));
    if (f.find("top_k")) defaults.top_k = f.get_int("top_k", 0);
  }
  if (const json* eos = f.find("eos_token_id")) {
    for (const json& id : eos->is_array() ? *eos : json::array({*eos})) {
      if (!id.is_number_integer()) f.fail("eos_token_id", "is not an integer or a list of integers");
      defaults.eos_token_ids.push_back(id.get<int32_t>());
    }
  }
  return defaults;
}

ModelConfig read_hf_config(const std::string& config_path) {
  const json root = parse_file(config_path);
  if (!root.is_object()) throw Error(config_path + ": not a JSON object.");
  const Fields f(config_path, root);

  ModelConfig c;
  c.arch = architecture(f);
  c.name = config_path;
  check_unsupported(c.arch, f);
  c.n_layer = f.get_int("num_hidden_layers");
  c.n_embd = f.get_int("hidden_size");
  c.n_ff = f.get_int("intermediate_size");
  c.n_head = f.get_int("num_attention_heads");
  c.n_kv_head = f.get_int("num_key_value_heads", c.n_head);
  c.head_dim = f.get_int("head_dim", c.n_head > 0 ? c.n_embd / c.n_head : 0);
  c.n_vocab = f.get_int("vocab_size");
  c.n_ctx_train = f.get_int("max_position_embeddings", 0);
  c.rms_eps = static_cast<float>(f.get_float("rms_norm_eps", 1e-6));
  c.n_rot = c.head_dim;
  c.rope_layout = RopeLayout::Half;  // Hugging Face weights are not permuted
  read_rope(config_path, f, c);
  c.qkv_bias = c.arch == "qwen2";
  c.qk_norm = c.arch == "qwen3";
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.validate();
  return c;
}

}  // namespace lim
