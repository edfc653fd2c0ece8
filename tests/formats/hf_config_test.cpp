// config.json and tokenizer.json of Hugging Face checkpoints: the fields each architecture
// needs, both layouts of the RoPE fields, and errors that name the file and the field.
#include "formats/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common.h"
#include "formats/gguf.h"
#include "formats/tokenizer_json.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string models_dir() { return std::string(LIM_FIXTURE_DIR) + "/models"; }

json qwen3_config() {
  return json{{"architectures", {"Qwen3ForCausalLM"}},
              {"hidden_size", 64},
              {"intermediate_size", 96},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"head_dim", 32},
              {"vocab_size", 300},
              {"rms_norm_eps", 1e-6},
              {"rope_theta", 1000000.0},
              {"rope_scaling", nullptr},
              {"tie_word_embeddings", true}};
}

class HfConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = test::temp_path("lim-config") + ".json"; }
  void TearDown() override { std::remove(path_.c_str()); }

  ModelConfig read(const json& config) {
    std::ofstream(path_) << config.dump();
    return read_hf_config(path_);
  }
  std::string error_of(const json& config) {
    try {
      read(config);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::string path_;
};

TEST_F(HfConfigTest, ReadsQwen3) {
  const ModelConfig c = read(qwen3_config());
  EXPECT_EQ(c.arch, "qwen3");
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_rot, 32);
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.n_kv_head, 2);
  EXPECT_EQ(c.n_vocab, 300);
  EXPECT_FLOAT_EQ(c.rope_base, 1e6f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_EQ(c.rope_layout, RopeLayout::Half);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.rope_freq_factors.empty());
}

TEST_F(HfConfigTest, DefaultsFollowTransformers) {
  json config = qwen3_config();
  config["architectures"] = {"Qwen2ForCausalLM"};
  for (const char* field : {"head_dim", "num_key_value_heads", "rope_theta", "tie_word_embeddings"}) config.erase(field);
  const ModelConfig c = read(config);
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.n_kv_head, 4);
  EXPECT_FLOAT_EQ(c.rope_base, 10000.0f);
  EXPECT_FALSE(c.tied_embeddings);
}

// transformers 5 writes rope_parameters instead of rope_theta and rope_scaling.
TEST_F(HfConfigTest, ReadsRopeParameters) {
  json config = qwen3_config();
  config["architectures"] = {"LlamaForCausalLM"};
  config.erase("rope_theta");
  config.erase("rope_scaling");
  config.erase("head_dim");
  config["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                               {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 64}};
  const ModelConfig c = read(config);
  EXPECT_EQ(c.arch, "llama");
  EXPECT_FLOAT_EQ(c.rope_base, 500000.0f);
  ASSERT_EQ(c.rope_freq_factors.size(), 8u);
  EXPECT_FLOAT_EQ(c.rope_freq_factors.front(), 1.0f);
  EXPECT_FLOAT_EQ(c.rope_freq_factors.back(), 8.0f);
}

// The factors computed from config.json equal the rope_freqs tensor of llama.cpp's converter,
// which tools/make_random_model.py writes into the GGUF of the same model.
TEST_F(HfConfigTest, Llama3FactorsEqualConverterOutput) {
  const ModelConfig c = read_hf_config(models_dir() + "/hf_llama3_bf16/config.json");
  const GgufFile gguf = GgufFile::open(models_dir() + "/hf_llama3_bf16.gguf");
  const GgufTensorInfo& freqs = gguf.tensor("rope_freqs.weight");
  ASSERT_EQ(static_cast<size_t>(freqs.n_elements()), c.rope_freq_factors.size());
  const float* expected = static_cast<const float*>(freqs.data);
  bool smoothed = false;
  for (size_t i = 0; i < c.rope_freq_factors.size(); ++i) {
    EXPECT_NEAR(c.rope_freq_factors[i], expected[i], 1e-5f * expected[i]) << "frequency " << i;
    smoothed = smoothed || (expected[i] > 1.0f && expected[i] < 8.0f);
  }
  EXPECT_TRUE(smoothed) << "the fixture should exercise the smoothed band";
}

TEST_F(HfConfigTest, UnsupportedArchitectureNamesFileAndField) {
  json config = qwen3_config();
  config["architectures"] = {"MistralForCausalLM"};
  const std::string message = error_of(config);
  EXPECT_NE(message.find(path_), std::string::npos) << message;
  EXPECT_NE(message.find("architectures"), std::string::npos) << message;
  EXPECT_NE(message.find("MistralForCausalLM"), std::string::npos) << message;
  EXPECT_NE(message.find("Qwen3ForCausalLM"), std::string::npos) << message;
}

TEST_F(HfConfigTest, UnsupportedOptionsAreNamed) {
  json yarn = qwen3_config();
  yarn["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(yarn).find("yarn"), std::string::npos);

  json sliding = qwen3_config();
  sliding["use_sliding_window"] = true;
  EXPECT_NE(error_of(sliding).find("use_sliding_window"), std::string::npos);

  json bias = qwen3_config();
  bias["attention_bias"] = true;
  EXPECT_NE(error_of(bias).find("attention_bias"), std::string::npos);

  json act = qwen3_config();
  act["hidden_act"] = "gelu";
  EXPECT_NE(error_of(act).find("hidden_act"), std::string::npos);
}

TEST_F(HfConfigTest, MissingOrMistypedFieldIsNamed) {
  json missing = qwen3_config();
  missing.erase("hidden_size");
  EXPECT_NE(error_of(missing).find("field hidden_size is missing"), std::string::npos);
  json mistyped = qwen3_config();
  mistyped["num_hidden_layers"] = "two";
  EXPECT_NE(error_of(mistyped).find("field num_hidden_layers is not an integer"), std::string::npos);
}

TEST(GenerationConfig, ReadsSamplingDefaults) {
  const GenerationDefaults d = read_generation_config(models_dir() + "/hf_qwen3_tied_bf16");
  ASSERT_TRUE(d.temperature.has_value());
  EXPECT_FLOAT_EQ(*d.temperature, 0.6f);
  ASSERT_TRUE(d.top_p.has_value());
  EXPECT_FLOAT_EQ(*d.top_p, 0.95f);
  ASSERT_TRUE(d.top_k.has_value());
  EXPECT_EQ(*d.top_k, 20);
  EXPECT_EQ(d.eos_token_ids, (std::vector<int32_t>{320}));
}

TEST(GenerationConfig, GreedyAndListsAndMissingFile) {
  const std::string dir = test::temp_path("lim-generation");
  fs::create_directories(dir);
  EXPECT_FALSE(read_generation_config(dir).temperature.has_value());
  std::ofstream(dir + "/generation_config.json") << R"({"do_sample": false, "temperature": 0.7, "eos_token_id": [1, 2]})";
  const GenerationDefaults d = read_generation_config(dir);
  ASSERT_TRUE(d.temperature.has_value());
  EXPECT_EQ(*d.temperature, 0.0f);
  EXPECT_FALSE(d.top_p.has_value());
  EXPECT_EQ(d.eos_token_ids, (std::vector<int32_t>{1, 2}));
  std::ofstream(dir + "/generation_config.json") << R"({"eos_token_id": "x"})";
  EXPECT_THROW(read_generation_config(dir), Error);
  fs::remove_all(dir);
}

TEST(TokenizerJson, ReadsQwen3Tokenizer) {
  const VocabData vocab = read_tokenizer_json(models_dir() + "/hf_qwen3_tied_bf16");
  EXPECT_EQ(vocab.pre, "qwen2");
  ASSERT_EQ(vocab.tokens.size(), 325u);
  EXPECT_EQ(vocab.tokens[320], "<|endoftext|>");
  EXPECT_EQ(vocab.token_types[320], TokenType::CONTROL);
  EXPECT_EQ(vocab.tokens[323], "<think>");
  EXPECT_EQ(vocab.token_types[323], TokenType::USER_DEFINED);  // not special in Qwen3
  EXPECT_EQ(vocab.eos_id, 322);                                 // <|im_end|>
  EXPECT_FALSE(vocab.add_bos);
  EXPECT_EQ(vocab.merges.size(), 325u - 256u - 5u);
}

TEST(TokenizerJson, ReadsLlama3Tokenizer) {
  const VocabData vocab = read_tokenizer_json(models_dir() + "/hf_llama3_bf16");
  EXPECT_EQ(vocab.pre, "llama-bpe");
  EXPECT_EQ(vocab.bos_id, 320);  // <|begin_of_text|>
  EXPECT_EQ(vocab.eos_id, 324);  // <|eot_id|>
  EXPECT_TRUE(vocab.add_bos);
}

TEST(TokenizerJson, UnsupportedPreTokenizerIsNamed) {
  const std::string dir = test::temp_path("lim-tokenizer");
  fs::create_directories(dir);
  std::ifstream in(models_dir() + "/hf_qwen3_tied_bf16/tokenizer.json");
  json tokenizer = json::parse(in);
  tokenizer["pre_tokenizer"] = {{"type", "Whitespace"}};
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  try {
    read_tokenizer_json(dir);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pre_tokenizer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Whitespace"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lim
