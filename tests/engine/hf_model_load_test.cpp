// Loading Hugging Face checkpoint directories that disagree with their config.json: the errors
// name the file and the tensor as the checkpoint spells it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common.h"
#include "engine/model.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

namespace fs = std::filesystem;

// A copy of a committed tiny checkpoint whose config.json a test may change.
class HfModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_path("lim-hf-model");
    fs::copy(std::string(LIM_FIXTURE_DIR) + "/models/hf_qwen2_f32", dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void set_config(const std::string& field, const nlohmann::json& value) {
    const std::string path = dir_ + "/config.json";
    nlohmann::json config = nlohmann::json::parse(std::ifstream(path));
    config[field] = value;
    std::ofstream(path) << config.dump(2);
  }

  std::string load_error() {
    try {
      Model::load(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

TEST_F(HfModelLoadTest, LoadsUnchangedCopy) {
  const auto model = Model::load(dir_);
  EXPECT_EQ(model->config().arch, "qwen2");
  EXPECT_EQ(model->config().rope_layout, RopeLayout::Half);
}

TEST_F(HfModelLoadTest, MissingTensorNamed) {
  set_config("num_hidden_layers", 3);
  const std::string message = load_error();
  EXPECT_NE(message.find("model.layers.2.input_layernorm.weight"), std::string::npos) << message;
  EXPECT_NE(message.find(dir_), std::string::npos) << message;
}

TEST_F(HfModelLoadTest, ShapeMismatchNamed) {
  set_config("intermediate_size", 100);
  const std::string message = load_error();
  EXPECT_NE(message.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[96, 64]"), std::string::npos) << message;
  EXPECT_NE(message.find("[100, 64]"), std::string::npos) << message;
}

TEST_F(HfModelLoadTest, VocabSizeMismatchNamed) {
  set_config("vocab_size", 300);  // the embedding has 334 rows
  const std::string message = load_error();
  EXPECT_NE(message.find("model.embed_tokens.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[300, 64]"), std::string::npos) << message;
}

TEST_F(HfModelLoadTest, FileInsideCheckpointPointsToDirectory) {
  try {
    Model::load(dir_ + "/config.json");
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pass " + dir_), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lim
