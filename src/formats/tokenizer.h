// Byte-level BPE tokenizer built from GGUF metadata (tokenizer.ggml.model = "gpt2").
//
// The pre-tokenizer regex is chosen by `tokenizer.ggml.pre`; special and control tokens are
// matched in the text before pre-tokenization. Ids match the Hugging Face `tokenizers` library
// on tests/fixtures/tokenizer_cases.json.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lim {

class GgufFile;

// GGUF token types (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
};

// Everything a tokenizer is built from, as plain data.
struct VocabData {
  std::string model = "gpt2";           // tokenizer.ggml.model
  std::string pre = "default";          // tokenizer.ggml.pre
  std::vector<std::string> tokens;      // byte-level encoded token strings, by id
  std::vector<TokenType> token_types;   // same length as tokens (NORMAL if empty)
  std::vector<std::string> merges;      // "left right", highest priority first
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;                  // end of turn, when the model has one
  bool add_bos = false;
  std::string chat_template;            // tokenizer.chat_template, may be empty
};

class Tokenizer {
 public:
  explicit Tokenizer(VocabData vocab);  // throws lim::Error for an unsupported model or pre
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  static Tokenizer from_gguf(const GgufFile& file);

  // Encodes UTF-8 text. With parse_special, control and user-defined tokens written in the text
  // (such as "<|im_start|>") become their ids; otherwise they are split like ordinary text.
  // Does not add BOS; callers check add_bos(). Throws lim::Error for invalid UTF-8, naming the
  // byte offset.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;

  // Returns the raw bytes of one token (byte-level decoding undone). Control tokens decode to
  // their text. The bytes may be an incomplete UTF-8 sequence.
  std::string token_bytes(int32_t id) const;
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;
  bool add_bos() const;
  bool is_end_of_generation(int32_t id) const;  // EOS, EOT, or another end-of-turn control token
  TokenType token_type(int32_t id) const;
  std::optional<int32_t> find_token(std::string_view text) const;
  const std::string& chat_template() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text that never ends inside a UTF-8 character: bytes of an
// incomplete character are held back until the token that completes it arrives.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t id);  // returns the complete characters available so far
  std::string flush();           // returns what is held back, invalid bytes as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Renders messages in ChatML (<|im_start|>role\ncontent<|im_end|>\n), as SmolLM2-Instruct and
// Qwen use, ending with "<|im_start|>assistant\n" when add_generation_prompt is set. When there
// is no system message and the model's template writes a default one, that default is used.
std::string format_chatml(const std::vector<ChatMessage>& messages, const std::string& chat_template,
                          bool add_generation_prompt = true);

// Returns the default system message that a ChatML template writes when the conversation has
// none, or an empty string.
std::string default_system_message(const std::string& chat_template);

}  // namespace lim
