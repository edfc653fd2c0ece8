// Chat prompts per family against transformers' apply_chat_template on the published templates
// (tests/fixtures/hf_chat_templates.json, written by scripts/reference/make_chat_fixture.py).
#include "formats/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common.h"

namespace lim {
namespace {

const nlohmann::json& fixture() {
  static const nlohmann::json json = [] {
    std::ifstream in(std::string(LIM_FIXTURE_DIR) + "/hf_chat_templates.json");
    if (!in.good()) throw std::runtime_error("missing fixture hf_chat_templates.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

const std::map<std::string, std::pair<ChatFamily, std::string>>& families() {
  // Fixture family name -> the family it must be detected as, and the BOS text it renders with.
  static const std::map<std::string, std::pair<ChatFamily, std::string>> map = {
      {"qwen3", {ChatFamily::Qwen3, ""}},
      {"qwen2_5", {ChatFamily::ChatML, ""}},
      {"smollm2", {ChatFamily::ChatML, ""}},
      {"llama3", {ChatFamily::Llama3, "<|begin_of_text|>"}},
      {"deepseek_r1", {ChatFamily::DeepSeekR1, "<｜begin▁of▁sentence｜>"}},
  };
  return map;
}

std::vector<ChatMessage> conversation(const std::string& name) {
  std::vector<ChatMessage> messages;
  for (const auto& m : fixture()["conversations"][name]) messages.push_back({m["role"], m["content"]});
  return messages;
}

TEST(HfChatTemplate, DetectsEachFamily) {
  for (const auto& [name, expected] : families()) {
    const auto family = detect_chat_family(fixture()["templates"][name].get<std::string>());
    ASSERT_TRUE(family.has_value()) << name;
    EXPECT_EQ(*family, expected.first) << name;
  }
  EXPECT_FALSE(detect_chat_family("{{ messages }}").has_value());
}

TEST(HfChatTemplate, MatchesTransformers) {
  size_t checked = 0;
  for (const auto& c : fixture()["cases"]) {
    const std::string name = c["family"];
    const auto& [family, bos] = families().at(name);
    ChatOptions options;
    options.add_generation_prompt = c["add_generation_prompt"];
    options.enable_thinking = c["enable_thinking"].is_null() || c["enable_thinking"].get<bool>();
    options.bos_token = bos;
    const std::string rendered =
        render_chat(family, conversation(c["conversation"]), fixture()["templates"][name], options);
    EXPECT_EQ(rendered, c["text"].get<std::string>())
        << name << " / " << c["conversation"].get<std::string>() << " / generation prompt "
        << c["add_generation_prompt"] << " / enable_thinking " << c["enable_thinking"];
    ++checked;
  }
  EXPECT_EQ(checked, 70u);
}

TEST(HfChatTemplate, RejectsToolRole) {
  EXPECT_THROW(render_chat(ChatFamily::Qwen3, {{"tool", "{}"}}, "", ChatOptions{}), Error);
}

}  // namespace
}  // namespace lim
