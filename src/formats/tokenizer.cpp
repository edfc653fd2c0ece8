#include "formats/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <limits>
#include <new>
#include <unordered_map>
#include <utility>

#include "common.h"
#include "formats/gguf.h"
#include "formats/unicode.h"

namespace lim {
namespace {

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer regexes

// The GPT-2 pattern, as in OpenAI's encoder.py and the Hugging Face ByteLevel pre-tokenizer.
constexpr const char* GPT2_PATTERN =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The Split pattern of the Qwen2 tokenizer.json (also used by Qwen2.5 and Qwen3).
constexpr const char* QWEN2_PATTERN =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The Split pattern of the Llama 3 tokenizer.json: as Qwen2's, but digits in runs of up to three.
constexpr const char* LLAMA3_PATTERN =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Hugging Face Digits(individual_digits=True) isolates each char::is_numeric() character,
// which is the general category N (Nd, Nl, No).
constexpr const char* DIGIT_PATTERN = R"(\p{N})";

// NOTE: PCRE2 10.42 (Debian 12) has Unicode 14 tables, but `tokenizers` 0.23.3 (Oniguruma and
// Rust's char) uses newer ones. Letters and digits assigned after Unicode 14, such as Kawi
// (U+11F00), match neither \p{L} nor \p{N} here, so text with them can split differently.

// `tokenizers` runs its regexes on Oniguruma, where \s is U+0009..U+000D, U+0085 and the
// category Z. PCRE2 with UCP also counts U+180E MONGOLIAN VOWEL SEPARATOR (a format character
// since Unicode 6.3) as \s, so \s and \S are rewritten to spell out Oniguruma's set.
constexpr std::string_view WHITESPACE_SET = R"(\x09-\x0D\x{85}\p{Z})";

std::string spell_out_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[++i];
      if (escaped == 's') {
        out += in_class ? std::string(WHITESPACE_SET) : "[" + std::string(WHITESPACE_SET) + "]";
      } else if (escaped == 'S') {
        LIM_CHECK(!in_class);  // a negated set cannot be written inside a class
        out += "[^" + std::string(WHITESPACE_SET) + "]";
      } else {
        out += c;
        out += escaped;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
    } else if (c == ']' && in_class) {
      in_class = false;
    }
    out += c;
  }
  return out;
}

struct Pcre2CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};

struct Pcre2MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};

struct Pcre2MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

using MatchData = std::unique_ptr<pcre2_match_data, Pcre2MatchDataDeleter>;

std::string pcre2_error_message(int code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  pcre2_get_error_message(code, buffer.data(), buffer.size());
  return reinterpret_cast<const char*>(buffer.data());
}

// A compiled pattern that splits text the way `tokenizers` does with
// SplitDelimiterBehavior::Isolated: every match is a piece, and so is the text between matches.
class SplitRegex {
 public:
  explicit SplitRegex(std::string_view pattern) : pattern_(spell_out_whitespace(pattern)) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
      throw Error("failed to compile pre-tokenizer regex /" + pattern_ + "/ at offset " +
                  std::to_string(error_offset) + ": " + pcre2_error_message(error_code));
    }
    code_.reset(code);
    // JIT is an optimization only: pcre2_match falls back to the interpreter without it.
    pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE);

    // The default match limit (10 million steps) rejects a single run of about ten million
    // spaces, where "\s*[\r\n]+" in the Qwen2 pattern backtracks across the whole run. The
    // patterns here take time linear in the text, so the limit is lifted.
    match_context_.reset(pcre2_match_context_create(nullptr));
    if (!match_context_) throw Error("failed to allocate a PCRE2 match context");
    pcre2_set_match_limit(match_context_.get(), std::numeric_limits<uint32_t>::max());
  }

  MatchData make_match_data() const {
    MatchData match_data(pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    if (!match_data) throw std::bad_alloc();
    return match_data;
  }

  void split(std::string_view text, pcre2_match_data* match_data,
             std::vector<std::string_view>& pieces) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t piece_start = 0;
    size_t search_start = 0;
    while (search_start < text.size()) {
      // The text was validated as UTF-8 before pre-tokenization.
      const int result = pcre2_match(code_.get(), subject, text.size(), search_start,
                                     PCRE2_NO_UTF_CHECK, match_data, match_context_.get());
      if (result == PCRE2_ERROR_NOMATCH) break;
      if (result < 0) {
        throw Error("pre-tokenizer regex /" + pattern_ + "/ failed: " + pcre2_error_message(result));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
      const size_t match_start = ovector[0];
      const size_t match_end = ovector[1];
      if (match_end == match_start) {
        // None of the patterns matches the empty string, but step over one character if one
        // ever does, so that the loop always advances.
        search_start = match_end + read_utf8(text.substr(match_end)).length;
        continue;
      }
      if (match_start > piece_start) pieces.push_back(text.substr(piece_start, match_start - piece_start));
      pieces.push_back(text.substr(match_start, match_end - match_start));
      piece_start = match_end;
      search_start = match_end;
    }
    if (piece_start < text.size()) pieces.push_back(text.substr(piece_start));
  }

 private:
  std::string pattern_;
  std::unique_ptr<pcre2_code, Pcre2CodeDeleter> code_;
  std::unique_ptr<pcre2_match_context, Pcre2MatchContextDeleter> match_context_;  // read-only once set
};

struct PreTokenizerSpec {
  const char* name;
  std::vector<const char*> patterns;  // applied in order, each to every piece of the previous
};

// NOTE: llama.cpp splits "default" (and a GGUF without tokenizer.ggml.pre) with four regexes,
// punctuation runs, GPT-2, \p{N}+ and groups of three digits, so its ids can differ there.
const std::vector<PreTokenizerSpec>& pre_tokenizer_specs() {
  static const std::vector<PreTokenizerSpec> specs = {
      {"default", {GPT2_PATTERN}},
      {"gpt2", {GPT2_PATTERN}},
      {"qwen2", {QWEN2_PATTERN}},
      {"llama-bpe", {LLAMA3_PATTERN}},
      {"smollm", {DIGIT_PATTERN, GPT2_PATTERN}},
  };
  return specs;
}

std::string join(const std::vector<std::string>& values, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += separator;
    out += values[i];
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PreTokenizer

struct PreTokenizer::Impl {
  std::vector<SplitRegex> steps;
};

PreTokenizer::PreTokenizer(const std::string& pre) : impl_(std::make_unique<Impl>()) {
  for (const PreTokenizerSpec& spec : pre_tokenizer_specs()) {
    if (pre != spec.name) continue;
    for (const char* pattern : spec.patterns) impl_->steps.emplace_back(pattern);
    return;
  }
  throw Error("unsupported pre-tokenizer \"" + pre + "\" (tokenizer.ggml.pre); supported: " +
              join(supported_names(), ", "));
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);

  std::vector<std::string_view> next;
  for (const SplitRegex& step : impl_->steps) {
    MatchData match_data = step.make_match_data();
    next.clear();
    for (const std::string_view piece : pieces) step.split(piece, match_data.get(), next);
    pieces.swap(next);
  }
  return pieces;
}

std::vector<std::string> PreTokenizer::supported_names() {
  std::vector<std::string> names;
  for (const PreTokenizerSpec& spec : pre_tokenizer_specs()) names.emplace_back(spec.name);
  return names;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

namespace {

struct Merge {
  int32_t rank;
  int32_t result_id;
};

uint64_t pair_key(int32_t left_id, int32_t right_id) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left_id)) << 32) | static_cast<uint32_t>(right_id);
}

// A token that is matched literally in the text before pre-tokenization.
struct SpecialToken {
  std::string text;
  int32_t id;
  bool control;  // matched only with parse_special
};

struct SpecialMatch {
  size_t offset;
  size_t length;
  int32_t id;
};

// Candidate merge of the symbols at `left` and `right` in a BPE word. It is stale once either
// symbol has changed, which the ids detect.
struct MergeCandidate {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result_id;
};

// Orders a max-heap so that the top is the lowest rank, and the leftmost among equal ranks.
bool merges_later(const MergeCandidate& a, const MergeCandidate& b) {
  if (a.rank != b.rank) return a.rank > b.rank;
  return a.left > b.left;
}

struct Symbol {
  int32_t id;    // -1 once merged into the symbol on its left
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

// Buffers reused across the pieces of one encode call.
struct BpeScratch {
  std::vector<Symbol> symbols;
  std::vector<MergeCandidate> heap;
};

bool is_literal_token(TokenType type) {
  return type == TokenType::CONTROL || type == TokenType::USER_DEFINED;
}

// Parses the "<0xAB>" text of a BYTE token.
std::optional<unsigned char> parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return std::nullopt;
  unsigned value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    value <<= 4;
    if (c >= '0' && c <= '9') {
      value |= static_cast<unsigned>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      value |= static_cast<unsigned>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      value |= static_cast<unsigned>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
  }
  return static_cast<unsigned char>(value);
}

std::string decode_token_text(const std::string& text, TokenType type) {
  if (is_literal_token(type)) return text;
  if (type == TokenType::BYTE) {
    if (const std::optional<unsigned char> byte = parse_byte_token(text)) return std::string(1, static_cast<char>(*byte));
  }
  if (std::optional<std::string> bytes = byte_level_decode(text)) return std::move(*bytes);
  // NOTE: a normal token with characters outside the byte-level alphabet decodes to its text
  // unchanged. Byte-level vocabularies have none.
  return text;
}

void check_token_id(const char* field, int32_t id, size_t n_vocab) {
  if (id < -1 || id >= static_cast<int64_t>(n_vocab)) {
    throw Error(std::string("invalid ") + field + " " + std::to_string(id) + ": the vocabulary has " +
                std::to_string(n_vocab) + " tokens");
  }
}

}  // namespace

struct Tokenizer::Impl {
  VocabData vocab;
  PreTokenizer pre_tokenizer;
  std::unordered_map<std::string, int32_t> token_ids;  // first id of each token text
  std::vector<std::string> token_bytes;                 // decoded bytes, by id
  std::array<int32_t, 256> byte_token_ids{};            // token of each byte's byte-level character
  std::unordered_map<uint64_t, Merge> merges;           // by pair_key(left id, right id)
  std::array<std::vector<SpecialToken>, 256> special_tokens;  // by first byte, longest first
  bool has_user_defined_tokens = false;
  std::vector<int32_t> end_of_generation_ids;

  explicit Impl(VocabData data) : vocab(std::move(data)), pre_tokenizer(vocab.pre) {}

  void validate() const;
  void index_tokens();
  void index_merges();
  void index_special_tokens();
  void index_end_of_generation();

  std::optional<SpecialMatch> find_special(std::string_view text, size_t from, bool parse_special) const;
  void encode_text(std::string_view text, BpeScratch& scratch, std::vector<int32_t>& ids) const;
  void encode_piece(std::string_view piece, BpeScratch& scratch, std::vector<int32_t>& ids) const;
  void push_candidate(BpeScratch& scratch, int32_t left, int32_t right) const;
};

void Tokenizer::Impl::validate() const {
  if (vocab.model != "gpt2") {
    throw Error("unsupported tokenizer model \"" + vocab.model +
                "\" (tokenizer.ggml.model); supported: gpt2 (byte-level BPE)");
  }
  if (vocab.tokens.empty()) throw Error("invalid vocabulary: tokenizer.ggml.tokens is empty");
  if (vocab.tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error("invalid vocabulary: " + std::to_string(vocab.tokens.size()) + " tokens do not fit 32-bit ids");
  }
  if (!vocab.token_types.empty() && vocab.token_types.size() != vocab.tokens.size()) {
    throw Error("invalid vocabulary: " + std::to_string(vocab.token_types.size()) + " token types for " +
                std::to_string(vocab.tokens.size()) + " tokens");
  }
  check_token_id("BOS token id", vocab.bos_id, vocab.tokens.size());
  check_token_id("EOS token id", vocab.eos_id, vocab.tokens.size());
  check_token_id("EOT token id", vocab.eot_id, vocab.tokens.size());
}

void Tokenizer::Impl::index_tokens() {
  if (vocab.token_types.empty()) vocab.token_types.assign(vocab.tokens.size(), TokenType::NORMAL);

  token_ids.reserve(vocab.tokens.size());
  token_bytes.reserve(vocab.tokens.size());
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    token_ids.emplace(vocab.tokens[id], static_cast<int32_t>(id));
    token_bytes.push_back(decode_token_text(vocab.tokens[id], vocab.token_types[id]));
  }

  for (int byte = 0; byte < 256; ++byte) {
    std::string text;
    append_utf8(text, byte_to_code_point(static_cast<unsigned char>(byte)));
    const auto it = token_ids.find(text);
    byte_token_ids[byte] = it == token_ids.end() ? -1 : it->second;
  }
}

void Tokenizer::Impl::index_merges() {
  merges.reserve(vocab.merges.size());
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    // Search from 1 as llama.cpp does, so that a left part that is itself a space still parses.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      throw Error("invalid BPE merge " + std::to_string(rank) + " \"" + merge +
                  "\" (tokenizer.ggml.merges): expected two tokens separated by a space");
    }
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    const auto left_it = token_ids.find(left);
    const auto right_it = token_ids.find(right);
    const auto result_it = token_ids.find(left + right);
    if (left_it == token_ids.end() || right_it == token_ids.end() || result_it == token_ids.end()) continue;
    // Keep the first occurrence of a repeated pair, which has the lower rank.
    merges.emplace(pair_key(left_it->second, right_it->second),
                   Merge{static_cast<int32_t>(rank), result_it->second});
  }
}

void Tokenizer::Impl::index_special_tokens() {
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const TokenType type = vocab.token_types[id];
    const std::string& text = vocab.tokens[id];
    if (!is_literal_token(type) || text.empty()) continue;
    const auto first_byte = static_cast<unsigned char>(text[0]);
    special_tokens[first_byte].push_back({text, static_cast<int32_t>(id), type == TokenType::CONTROL});
    has_user_defined_tokens = has_user_defined_tokens || type == TokenType::USER_DEFINED;
  }
  for (std::vector<SpecialToken>& group : special_tokens) {
    std::stable_sort(group.begin(), group.end(), [](const SpecialToken& a, const SpecialToken& b) {
      return a.text.size() > b.text.size();
    });
  }
}

void Tokenizer::Impl::index_end_of_generation() {
  for (const int32_t id : {vocab.eos_id, vocab.eot_id}) {
    if (id >= 0) end_of_generation_ids.push_back(id);
  }
  for (const char* text : {"<|im_end|>", "<|endoftext|>"}) {
    const auto it = token_ids.find(text);
    if (it != token_ids.end() && vocab.token_types[it->second] == TokenType::CONTROL) {
      end_of_generation_ids.push_back(it->second);
    }
  }
}

// Returns the leftmost special token at or after `from`, and the longest one at that offset,
// which is how `tokenizers` matches added tokens.
std::optional<SpecialMatch> Tokenizer::Impl::find_special(std::string_view text, size_t from,
                                                           bool parse_special) const {
  if (!parse_special && !has_user_defined_tokens) return std::nullopt;
  for (size_t offset = from; offset < text.size(); ++offset) {
    const std::vector<SpecialToken>& candidates = special_tokens[static_cast<unsigned char>(text[offset])];
    for (const SpecialToken& token : candidates) {
      if (token.control && !parse_special) continue;
      if (text.compare(offset, token.text.size(), token.text) == 0) {
        return SpecialMatch{offset, token.text.size(), token.id};
      }
    }
  }
  return std::nullopt;
}

void Tokenizer::Impl::encode_text(std::string_view text, BpeScratch& scratch, std::vector<int32_t>& ids) const {
  for (const std::string_view piece : pre_tokenizer.split(text)) encode_piece(piece, scratch, ids);
}

void Tokenizer::Impl::push_candidate(BpeScratch& scratch, int32_t left, int32_t right) const {
  const int32_t left_id = scratch.symbols[left].id;
  const int32_t right_id = scratch.symbols[right].id;
  const auto it = merges.find(pair_key(left_id, right_id));
  if (it == merges.end()) return;
  scratch.heap.push_back({it->second.rank, left, right, left_id, right_id, it->second.result_id});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), merges_later);
}

// Applies the merges to one piece, starting from one symbol per byte. Each step merges the
// pair with the lowest rank, and the leftmost such pair, like Hugging Face `tokenizers`
// (Word::merge_all) and llama.cpp.
void Tokenizer::Impl::encode_piece(std::string_view piece, BpeScratch& scratch, std::vector<int32_t>& ids) const {
  // A byte without a token is dropped, and its neighbours become adjacent, as in `tokenizers`
  // without an unknown token. (SmolLM2 has no token for 21 bytes, such as 0x04 and 0xFF.)
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (const char byte : piece) {
    const int32_t id = byte_token_ids[static_cast<unsigned char>(byte)];
    if (id < 0) continue;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1});
  }
  const auto n = static_cast<int32_t>(symbols.size());
  if (n == 0) return;
  symbols.back().next = -1;

  scratch.heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(scratch, i, i + 1);

  while (!scratch.heap.empty()) {
    std::pop_heap(scratch.heap.begin(), scratch.heap.end(), merges_later);
    const MergeCandidate candidate = scratch.heap.back();
    scratch.heap.pop_back();

    Symbol& left = symbols[candidate.left];
    if (left.id != candidate.left_id || left.next != candidate.right) continue;
    Symbol& right = symbols[candidate.right];
    if (right.id != candidate.right_id) continue;

    left.id = candidate.result_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = candidate.left;
    right.id = -1;

    if (left.prev >= 0) push_candidate(scratch, left.prev, candidate.left);
    if (left.next >= 0) push_candidate(scratch, candidate.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

Tokenizer::Tokenizer(VocabData vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {
  impl_->validate();
  impl_->index_tokens();
  impl_->index_merges();
  impl_->vocab.merges = {};  // indexed by id pair now, so free the strings
  impl_->index_special_tokens();
  impl_->index_end_of_generation();
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

int32_t read_token_id(const GgufFile& file, const std::string& key) {
  const std::optional<int64_t> value = file.find_int(key);
  if (!value) return -1;
  if (*value < -1 || *value > std::numeric_limits<int32_t>::max()) {
    throw Error("invalid " + key + " " + std::to_string(*value) + " in " + file.path() +
                ": expected a token id or -1");
  }
  return static_cast<int32_t>(*value);
}

std::vector<TokenType> read_token_types(const GgufFile& file) {
  const std::string key = "tokenizer.ggml.token_type";
  std::vector<TokenType> types;
  if (file.find(key) == nullptr) return types;

  const std::vector<int64_t> values = file.get_int_array(key);
  types.reserve(values.size());
  for (size_t id = 0; id < values.size(); ++id) {
    const int64_t value = values[id];
    if (value < static_cast<int64_t>(TokenType::UNDEFINED) || value > static_cast<int64_t>(TokenType::BYTE)) {
      throw Error("invalid " + key + " " + std::to_string(value) + " for token " + std::to_string(id) + " in " +
                  file.path() + ": expected 0 to 6");
    }
    types.push_back(static_cast<TokenType>(value));
  }
  return types;
}

}  // namespace

VocabData read_vocab(const GgufFile& file) {
  VocabData vocab;
  vocab.model = file.get_string("tokenizer.ggml.model");
  vocab.pre = file.find_string("tokenizer.ggml.pre").value_or("default");
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  vocab.token_types = read_token_types(file);
  vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  vocab.bos_id = read_token_id(file, "tokenizer.ggml.bos_token_id");
  vocab.eos_id = read_token_id(file, "tokenizer.ggml.eos_token_id");
  vocab.eot_id = read_token_id(file, "tokenizer.ggml.eot_token_id");
  vocab.add_bos = file.find_bool("tokenizer.ggml.add_bos_token").value_or(false);
  vocab.chat_template = file.find_string("tokenizer.chat_template").value_or("");
  return vocab;
}

Tokenizer Tokenizer::from_gguf(const GgufFile& file) { return Tokenizer(read_vocab(file)); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  if (const std::optional<size_t> offset = find_invalid_utf8(text)) {
    throw Error("invalid UTF-8 at byte offset " + std::to_string(*offset) +
                " of the text to encode: the input must be UTF-8");
  }

  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  BpeScratch scratch;
  size_t offset = 0;
  while (offset < text.size()) {
    const std::optional<SpecialMatch> special = impl_->find_special(text, offset, parse_special);
    const size_t text_end = special ? special->offset : text.size();
    impl_->encode_text(text.substr(offset, text_end - offset), scratch, ids);
    if (!special) break;
    ids.push_back(special->id);
    offset = special->offset + special->length;
  }
  return ids;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= n_vocab()) {
    throw Error("invalid token id " + std::to_string(id) + ": the vocabulary has " + std::to_string(n_vocab()) +
                " tokens");
  }
  return impl_->token_bytes[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (const int32_t id : ids) text += token_bytes(id);
  return text;
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->vocab.tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->vocab.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->vocab.eos_id; }
int32_t Tokenizer::eot_id() const { return impl_->vocab.eot_id; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }

bool Tokenizer::is_end_of_generation(int32_t id) const {
  const std::vector<int32_t>& ids = impl_->end_of_generation_ids;
  return id >= 0 && std::find(ids.begin(), ids.end(), id) != ids.end();
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) {
    throw Error("invalid token id " + std::to_string(id) + ": the vocabulary has " + std::to_string(n_vocab()) +
                " tokens");
  }
  return impl_->vocab.token_types[id];
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  const auto it = impl_->token_ids.find(std::string(text));
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::chat_template() const { return impl_->vocab.chat_template; }

// ---------------------------------------------------------------------------------------------
// StreamDecoder

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.token_bytes(id);

  std::string out;
  size_t offset = 0;
  while (offset < pending_.size()) {
    const Utf8Sequence sequence = read_utf8(std::string_view(pending_).substr(offset));
    if (sequence.status == Utf8Sequence::Status::TRUNCATED) break;
    if (sequence.status == Utf8Sequence::Status::COMPLETE) {
      out.append(pending_, offset, sequence.length);
    } else {
      append_utf8(out, REPLACEMENT_CHARACTER);
    }
    offset += sequence.length;
  }
  pending_.erase(0, offset);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = replace_invalid_utf8(pending_);
  pending_.clear();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Chat formatting

namespace {

constexpr std::string_view IM_START = "<|im_start|>";
constexpr std::string_view IM_END = "<|im_end|>";

void append_chatml_turn(std::string& out, std::string_view role, std::string_view content) {
  out += IM_START;
  out += role;
  out += '\n';
  out += content;
  out += IM_END;
  out += '\n';
}

// Reads the rest of a Jinja string literal that opened with `quote`, from `offset` up to the
// first "<|im_end|>". Returns nothing when the literal closes first, which means the message is
// built from expressions rather than written out.
std::optional<std::string> read_literal_until_im_end(std::string_view source, size_t offset, char quote) {
  std::string text;
  while (offset < source.size()) {
    if (source.compare(offset, IM_END.size(), IM_END) == 0) return text;
    const char c = source[offset];
    if (c == quote) return std::nullopt;
    if (c == '\\' && offset + 1 < source.size()) {
      const char escaped = source[offset + 1];
      switch (escaped) {
        case 'n': text += '\n'; break;
        case 't': text += '\t'; break;
        case 'r': text += '\r'; break;
        default: text += escaped; break;  // \\, \' and \"
      }
      offset += 2;
      continue;
    }
    text += c;
    ++offset;
  }
  return std::nullopt;
}

}  // namespace

std::string default_system_message(const std::string& chat_template) {
  const std::string_view source = chat_template;
  const std::string opening = std::string(IM_START) + "system";

  for (size_t start = source.find(opening); start != std::string_view::npos;
       start = source.find(opening, start + 1)) {
    // The opening must begin a string literal.
    if (start == 0) continue;
    const char quote = source[start - 1];
    if (quote != '\'' && quote != '"') continue;

    // Templates stored from JSON hold either a real newline or the Jinja escape "\n".
    size_t offset = start + opening.size();
    if (source.compare(offset, 1, "\n") == 0) {
      offset += 1;
    } else if (source.compare(offset, 2, "\\n") == 0) {
      offset += 2;
    } else {
      continue;
    }

    std::optional<std::string> message = read_literal_until_im_end(source, offset, quote);
    if (message && !message->empty()) return std::move(*message);
  }
  return "";
}

std::string format_chatml(const std::vector<ChatMessage>& messages, const std::string& chat_template,
                          bool add_generation_prompt) {
  std::string out;
  const bool starts_with_system = !messages.empty() && messages.front().role == "system";
  if (!starts_with_system) {
    const std::string system_message = default_system_message(chat_template);
    if (!system_message.empty()) append_chatml_turn(out, "system", system_message);
  }
  for (const ChatMessage& message : messages) append_chatml_turn(out, message.role, message.content);
  if (add_generation_prompt) {
    out += IM_START;
    out += "assistant\n";
  }
  return out;
}

}  // namespace lim
