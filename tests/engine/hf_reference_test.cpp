// Tiny random-weight models in the shapes of real Qwen3, Qwen2 and Llama 3 checkpoints, each
// stored as a Hugging Face directory and as a GGUF file. The tests compare them with the logits
// and token ids that transformers and `tokenizers` give (tests/fixtures/hf_random_models.json).
// tools/make_random_model.py writes the fixture and the models in tests/fixtures/models/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "formats/chat_template.h"

namespace lim {
namespace {

// Both sides compute in float32 on identical weight values (BF16 weights widen exactly), so only
// summation order differs. The largest difference measured was 3.7e-5, with logits up to 26 in
// magnitude (the test prints both per prompt), so the tolerance leaves a 5x margin.
constexpr double kLogitTolerance = 2e-4;

const nlohmann::json& fixture() {
  static const nlohmann::json json = [] {
    std::ifstream in(std::string(LIM_FIXTURE_DIR) + "/hf_random_models.json");
    if (!in.good()) throw std::runtime_error("missing fixture hf_random_models.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

// How the model is stored: the suffix of its path under tests/fixtures/models/.
enum class Storage { Gguf, HfDirectory, HfShards };

struct Case {
  std::string name;  // a key of fixture()["models"]
  Storage storage;

  std::string path() const {
    const std::string base = std::string(LIM_FIXTURE_DIR) + "/models/" + name;
    switch (storage) {
      case Storage::Gguf: return base + ".gguf";
      case Storage::HfDirectory: return base;
      case Storage::HfShards: return base + "_sharded";
    }
    return base;
  }
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  switch (info.param.storage) {
    case Storage::Gguf: return info.param.name + "_gguf";
    case Storage::HfDirectory: return info.param.name + "_hf";
    case Storage::HfShards: return info.param.name + "_hf_sharded";
  }
  return info.param.name;
}

class HfReferenceTest : public ::testing::TestWithParam<Case> {
 protected:
  const nlohmann::json& expected() const { return fixture()["models"][GetParam().name]; }
  std::unique_ptr<Model> load() const { return Model::load(GetParam().path()); }
};

TEST_P(HfReferenceTest, ConfigMatchesCheckpoint) {
  const auto model = load();
  const ModelConfig& c = model->config();
  const nlohmann::json& e = expected();
  EXPECT_EQ(c.arch, e["gguf_arch"].get<std::string>());
  EXPECT_EQ(c.n_vocab, e["n_vocab"].get<int64_t>());
  EXPECT_EQ(c.tied_embeddings, e["tied_embeddings"].get<bool>());
  // The embedding may have more rows than the tokenizer has tokens (Qwen pads it); the
  // tokenizer then covers every row with unused entries.
  EXPECT_EQ(model->tokenizer().n_vocab(), c.n_vocab);
  const DType stored = e["dtype"] == "bfloat16" ? DType::BF16 : DType::F32;
  EXPECT_EQ(model->layers[0].wq.type, stored);
}

TEST_P(HfReferenceTest, LastPositionLogitsMatchTransformers) {
  const auto model = load();
  ThreadPool pool(2);
  for (const auto& prompt : expected()["prompts"]) {
    const std::string name = prompt["name"];
    const auto ids = prompt["ids"].get<std::vector<int32_t>>();
    const auto reference = prompt["logits"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(reference.size()), model->config().n_vocab);

    Session session(*model, static_cast<int64_t>(ids.size()) + 1, pool, nullptr);
    const float* logits = session.prefill(ids);
    double max_error = 0.0, max_magnitude = 0.0;
    for (size_t i = 0; i < reference.size(); ++i) {
      max_error = std::max(max_error, std::abs(logits[i] - reference[i]));
      max_magnitude = std::max(max_magnitude, std::abs(reference[i]));
      EXPECT_NEAR(logits[i], reference[i], kLogitTolerance) << name << ": token id " << i;
    }
    std::printf("%s %s: %zu tokens, max |logit| %.1f, max |difference| %.2e\n",
                GetParam().name.c_str(), name.c_str(), ids.size(), max_magnitude, max_error);
  }
}

TEST_P(HfReferenceTest, GreedyTokensMatchTransformers) {
  const auto model = load();
  const nlohmann::json& greedy = expected()["greedy"];
  std::vector<int32_t> prompt;
  for (const auto& p : expected()["prompts"]) {
    if (p["name"] == greedy["prompt"]) prompt = p["ids"].get<std::vector<int32_t>>();
  }
  ASSERT_FALSE(prompt.empty());
  const auto reference = greedy["generated_ids"].get<std::vector<int32_t>>();

  ThreadPool pool(2);
  Session session(*model, static_cast<int64_t>(prompt.size() + reference.size()) + 1, pool, nullptr);
  const float* logits = session.prefill(prompt);
  std::vector<int32_t> generated;
  for (size_t i = 0; i < reference.size(); ++i) {
    generated.push_back(argmax(logits, model->config().n_vocab));
    if (i + 1 < reference.size()) logits = session.decode(generated.back());
  }
  EXPECT_EQ(generated, reference);
}

TEST_P(HfReferenceTest, TokenIdsMatchTokenizers) {
  const auto model = load();
  for (const auto& text : expected()["texts"]) {
    EXPECT_EQ(model->tokenizer().encode(text["text"].get<std::string>()), text["ids"].get<std::vector<int32_t>>())
        << text["name"].get<std::string>();
  }
}

// The model's own chat template, rendered and encoded as transformers' apply_chat_template with
// tokenize=True does it (the template writes BOS where the family has one).
TEST_P(HfReferenceTest, ChatPromptIdsMatchTransformers) {
  const auto model = load();
  const nlohmann::json& chat = expected()["chat"];
  std::vector<ChatMessage> messages;
  for (const auto& m : chat["messages"]) messages.push_back({m["role"], m["content"]});
  const std::string text = apply_chat_template(model->tokenizer(), messages, true, chat["enable_thinking"].get<bool>());
  EXPECT_EQ(model->tokenizer().encode(text, /*parse_special=*/true), chat["ids"].get<std::vector<int32_t>>()) << text;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const auto& [name, _] : fixture()["models"].items()) {
    out.push_back({name, Storage::Gguf});
    out.push_back({name, Storage::HfDirectory});
    // tools/make_random_model.py also writes some models in shards.
    if (std::filesystem::exists(Case{name, Storage::HfShards}.path())) out.push_back({name, Storage::HfShards});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Models, HfReferenceTest, ::testing::ValuesIn(cases()), case_name);

}  // namespace
}  // namespace lim
