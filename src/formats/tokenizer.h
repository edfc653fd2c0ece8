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

// Splits text into the pieces that BPE encodes separately, as the Hugging Face `tokenizers`
// pre-tokenizer of the model family named by `tokenizer.ggml.pre` does:
//   "default", "gpt2": the GPT-2 regex ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|...).
//   "smollm": every \p{N} character becomes its own piece, then the GPT-2 regex splits the
//             text between them (Sequence[Digits(individual_digits), ByteLevel(use_regex)]).
//   "qwen2":  the Qwen2 regex, which also makes every \p{N} character its own piece.
//   "llama-bpe": the Llama 3 regex, which splits \p{N} runs into groups of up to three.
// Each step keeps both the matches and the text between them. The regexes run on PCRE2 in UTF
// and UCP mode. const member functions are safe to call from several threads at once.
class PreTokenizer {
 public:
  explicit PreTokenizer(const std::string& pre);  // throws lim::Error for an unsupported name
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Returns the pieces, which are views into `text` and cover it in order. `text` must be valid
  // UTF-8 (Tokenizer::encode checks it first).
  std::vector<std::string_view> split(std::string_view text) const;

  static std::vector<std::string> supported_names();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
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

// Reads the tokenizer.ggml.* keys and tokenizer.chat_template. A missing pre is "default",
// missing token types are NORMAL, a missing add_bos_token is false, and a missing special token
// id is -1. Throws lim::Error for a missing model, token or merge list, or an invalid value.
VocabData read_vocab(const GgufFile& file);

// Byte-level BPE: text bytes are written in the GPT-2 byte-level alphabet, then the merges are
// applied by rank (lowest first, leftmost among equal ranks) within each pre-tokenizer piece.
// All const member functions are safe to call from several threads at once.
class Tokenizer {
 public:
  // Throws lim::Error for an unsupported model or pre, a token_types list of another length
  // than tokens, an out-of-range special token id, or a malformed merge. Merges whose parts or
  // result are not in the vocabulary are ignored.
  explicit Tokenizer(VocabData vocab);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  static Tokenizer from_gguf(const GgufFile& file);  // Tokenizer(read_vocab(file))

  // Encodes UTF-8 text. With parse_special, control tokens written in the text (such as
  // "<|im_start|>") become their ids; otherwise they are split like ordinary text. User-defined
  // tokens always become their ids, because they are the non-special added tokens of Hugging
  // Face `tokenizers`, which matches those regardless of its encode_special_tokens setting.
  // Where token texts overlap, the leftmost match wins, and the longest among those. Bytes whose
  // byte-level character has no token are dropped, as `tokenizers` does without an unknown token.
  // Does not add BOS; callers check add_bos(). Throws lim::Error for invalid UTF-8, naming the
  // byte offset. Safe to call from several threads at once.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;

  // Returns the raw bytes of one token (byte-level decoding undone). Control and user-defined
  // tokens decode to their text. The bytes may be an incomplete UTF-8 sequence. Throws
  // lim::Error for an id outside [0, n_vocab()).
  std::string token_bytes(int32_t id) const;
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;
  bool add_bos() const;
  bool is_end_of_generation(int32_t id) const;  // EOS, EOT, or another end-of-turn control token
  TokenType token_type(int32_t id) const;
  // Looks a token up by its text as stored in the vocabulary, which for normal tokens is the
  // byte-level form ("Ġthe" for " the").
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
  // Returns the complete characters available so far. Bytes that no later byte can turn into a
  // valid character are returned at once as U+FFFD, one per maximal ill-formed subpart.
  std::string push(int32_t id);
  std::string flush();  // returns what is held back, invalid or incomplete bytes as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Renders messages in ChatML (<|im_start|>role\ncontent<|im_end|>\n), as SmolLM2-Instruct and
// Qwen use, ending with "<|im_start|>assistant\n" when add_generation_prompt is set. When the
// first message is not a system message (or there are none) and the model's template writes a
// default one, that default comes first. Other template logic, such as tool calls or Qwen3's
// removal of earlier reasoning, is not applied.
std::string format_chatml(const std::vector<ChatMessage>& messages, const std::string& chat_template,
                          bool add_generation_prompt = true);

// Returns the default system message that a ChatML template writes when the conversation has
// none, or an empty string. The message must be one Jinja string literal that starts with
// "<|im_start|>system" and a newline and ends with "<|im_end|>", as in the templates of
// SmolLM2-Instruct and Qwen2.5-Instruct. Escapes in the literal (\n, \', \") are undone.
std::string default_system_message(const std::string& chat_template);

}  // namespace lim
