#include "formats/tokenizer_json.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"

namespace lim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The Split regexes of the published tokenizer.json files, and the PreTokenizer that runs them.
struct KnownSplit {
  const char* pattern;
  const char* pre;
};
constexpr KnownSplit kKnownSplits[] = {
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "qwen2"},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "llama-bpe"},
};

json parse_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": failed to open.");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

std::string type_of(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string() ? node["type"].get<std::string>() : "";
}

// The ByteLevel pre-tokenizer without a prefix space (the encoder never adds one), with or
// without its built-in GPT-2 regex.
bool byte_level(const json& node, bool use_regex) {
  return type_of(node) == "ByteLevel" && node.value("use_regex", true) == use_regex &&
         !node.value("add_prefix_space", false);
}

bool byte_level_with_regex(const json& node) { return byte_level(node, true); }

// Maps the pre_tokenizer node to a PreTokenizer name, or throws naming what it found.
std::string pre_tokenizer_name(const std::string& path, const json& node) {
  const std::string dump = node.dump();
  auto fail = [&]() -> Error {
    return Error(path + ": pre_tokenizer " + dump.substr(0, 300) +
                 " is not supported; supported: the byte-level layouts of Qwen2/Qwen3, Llama 3, SmolLM2 and GPT-2.");
  };
  if (byte_level_with_regex(node)) return "gpt2";
  if (type_of(node) != "Sequence" || !node.contains("pretokenizers") || !node["pretokenizers"].is_array()) throw fail();
  const json& steps = node["pretokenizers"];
  if (steps.size() != 2) throw fail();
  const json& first = steps[0];
  const json& second = steps[1];
  if (type_of(first) == "Digits" && first.value("individual_digits", false) && byte_level_with_regex(second)) {
    return "smollm";
  }
  if (type_of(first) != "Split" || !byte_level(second, false)) throw fail();
  if (first.value("behavior", "") != "Isolated" || first.value("invert", false)) throw fail();
  const json& pattern = first.value("pattern", json::object());
  if (!pattern.contains("Regex") || !pattern["Regex"].is_string()) throw fail();
  const std::string regex = pattern["Regex"].get<std::string>();
  for (const KnownSplit& known : kKnownSplits) {
    if (regex == known.pattern) return known.pre;
  }
  throw fail();
}

void check_model(const std::string& path, const json& model) {
  if (type_of(model) != "BPE") {
    throw Error(path + ": model.type is \"" + type_of(model) + "\"; only byte-level BPE is supported.");
  }
  if (model.value("byte_fallback", false)) {
    throw Error(path + ": model.byte_fallback is true (a SentencePiece-style BPE); only byte-level BPE is supported.");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw Error(path + ": model.vocab is missing.");
  if (!model.contains("merges") || !model["merges"].is_array()) throw Error(path + ": model.merges is missing.");
}

void check_normalizer(const std::string& path, const json& root) {
  const json& normalizer = root.value("normalizer", json());
  if (normalizer.is_null() || type_of(normalizer) == "NFC") return;
  throw Error(path + ": normalizer " + normalizer.dump().substr(0, 200) + " is not supported; supported: none, NFC.");
}

// Places a token at its id, refusing ids that repeat or fall outside the vocabulary.
void place(const std::string& path, VocabData& vocab, int64_t id, const std::string& text, TokenType type) {
  if (id < 0 || id >= static_cast<int64_t>(vocab.tokens.size())) {
    throw Error(path + ": token " + text + " has id " + std::to_string(id) + ", outside 0.." +
                std::to_string(vocab.tokens.size() - 1) + "; the ids must be dense.");
  }
  const size_t i = static_cast<size_t>(id);
  if (!vocab.tokens[i].empty() && vocab.tokens[i] != text) {
    throw Error(path + ": id " + std::to_string(id) + " is given to both " + vocab.tokens[i] + " and " + text + ".");
  }
  vocab.tokens[i] = text;
  vocab.token_types[i] = type;
}

void read_tokens(const std::string& path, const json& root, VocabData& vocab) {
  const json& model_vocab = root["model"]["vocab"];
  const json& added = root.value("added_tokens", json::array());
  int64_t max_id = -1;
  for (const auto& [_, id] : model_vocab.items()) max_id = std::max(max_id, id.get<int64_t>());
  for (const auto& token : added) max_id = std::max(max_id, token.value("id", int64_t{-1}));
  vocab.tokens.assign(static_cast<size_t>(max_id + 1), "");
  vocab.token_types.assign(vocab.tokens.size(), TokenType::NORMAL);

  for (const auto& [text, id] : model_vocab.items()) {
    if (!id.is_number_integer()) throw Error(path + ": model.vocab entry " + text + " is not an integer id.");
    place(path, vocab, id.get<int64_t>(), text, TokenType::NORMAL);
  }
  for (const auto& token : added) {
    if (!token.contains("id") || !token.contains("content")) throw Error(path + ": an added_tokens entry lacks id or content.");
    const TokenType type = token.value("special", false) ? TokenType::CONTROL : TokenType::USER_DEFINED;
    place(path, vocab, token["id"].get<int64_t>(), token["content"].get<std::string>(), type);
  }
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (vocab.tokens[i].empty()) throw Error(path + ": no token has id " + std::to_string(i) + "; the ids must be dense.");
  }
}

// Merges are "left right" strings in older files and [left, right] pairs in newer ones.
void read_merges(const std::string& path, const json& merges, VocabData& vocab) {
  vocab.merges.reserve(merges.size());
  for (const auto& merge : merges) {
    if (merge.is_string()) {
      vocab.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      vocab.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    } else {
      throw Error(path + ": model.merges has an entry that is neither \"left right\" nor [left, right]: " +
                  merge.dump().substr(0, 100));
    }
  }
}

// bos_token and eos_token are a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_text(const json& config, const char* field) {
  const auto it = config.find(field);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// Returns the id of a token by its text, preferring an added token over a normal one of the same
// text, or -1 when there is none.
int32_t find_id(const VocabData& vocab, const std::string& text) {
  int32_t normal = -1;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (vocab.tokens[i] != text) continue;
    if (vocab.token_types[i] != TokenType::NORMAL) return static_cast<int32_t>(i);
    if (normal < 0) normal = static_cast<int32_t>(i);
  }
  return normal;
}

// Whether the post-processor puts the BOS token before the text, as Llama 3's TemplateProcessing
// does. A post-processor may be nested in a Sequence.
bool post_processor_adds_bos(const json& node, const std::string& bos) {
  if (type_of(node) == "Sequence") {
    for (const auto& step : node.value("processors", json::array())) {
      if (post_processor_adds_bos(step, bos)) return true;
    }
    return false;
  }
  if (type_of(node) != "TemplateProcessing" || bos.empty()) return false;
  const json& single = node.value("single", json::array());
  return !single.empty() && single[0].contains("SpecialToken") && single[0]["SpecialToken"].value("id", "") == bos;
}

void read_tokenizer_config(const fs::path& dir, const json& root, VocabData& vocab) {
  json config = json::object();
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path)) config = parse_file(config_path.string());

  const std::string bos = token_text(config, "bos_token").value_or("");
  if (!bos.empty()) vocab.bos_id = find_id(vocab, bos);
  if (const auto eos = token_text(config, "eos_token")) vocab.eos_id = find_id(vocab, *eos);
  // Llama 3 instruct models end a turn with <|eot_id|> while their base models' EOS differs.
  if (const int32_t eot = find_id(vocab, "<|eot_id|>"); eot >= 0 && eot != vocab.eos_id) vocab.eot_id = eot;

  const auto add_bos = config.find("add_bos_token");
  vocab.add_bos = add_bos != config.end() && add_bos->is_boolean()
                      ? add_bos->get<bool>()
                      : post_processor_adds_bos(root.value("post_processor", json()), bos);
  if (vocab.add_bos && vocab.bos_id < 0) vocab.add_bos = false;

  if (const auto it = config.find("chat_template"); it != config.end() && it->is_string()) {
    vocab.chat_template = it->get<std::string>();
  } else if (std::ifstream jinja(dir / "chat_template.jinja"); jinja) {
    std::ostringstream text;
    text << jinja.rdbuf();
    vocab.chat_template = text.str();
  }
}

}  // namespace

VocabData read_tokenizer_json(const std::string& dir) {
  const fs::path tokenizer_path = fs::path(dir) / "tokenizer.json";
  const std::string path = tokenizer_path.string();
  if (!fs::exists(tokenizer_path)) {
    throw Error(path + ": missing. A Hugging Face model directory needs tokenizer.json; checkpoints that ship only "
                "a SentencePiece tokenizer.model are not supported.");
  }
  const json root = parse_file(path);
  if (!root.is_object() || !root.contains("model")) throw Error(path + ": model is missing.");
  check_model(path, root["model"]);
  check_normalizer(path, root);

  VocabData vocab;
  vocab.model = "gpt2";
  vocab.pre = pre_tokenizer_name(path, root.value("pre_tokenizer", json()));
  try {
    read_tokens(path, root, vocab);
    read_merges(path, root["model"]["merges"], vocab);
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected content: " + e.what());
  }
  read_tokenizer_config(fs::path(dir), root, vocab);
  return vocab;
}

}  // namespace lim
