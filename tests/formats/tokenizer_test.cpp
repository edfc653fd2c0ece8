#include "formats/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "formats/gguf.h"
#include "formats/unicode.h"

namespace lim {
namespace {

// ---------------------------------------------------------------------------------------------
// A hand-made vocabulary: the 256 byte tokens, a few merges and some literal tokens.

struct TinyToken {
  std::string bytes;  // raw bytes for NORMAL tokens, the literal text otherwise
  TokenType type = TokenType::NORMAL;
};

// Merges in rank order. "b c" outranks "a b", so "abc" becomes "a" + "bc" and then "abc". A
// tokenizer that merged left to right would stop at "ab" + "c", because there is no "ab c".
const std::vector<std::pair<std::string, std::string>> TINY_MERGES = {
    {"b", "c"}, {"a", "b"}, {"a", "bc"}, {"a", "a"}, {" ", "t"}, {"h", "e"}, {" t", "he"}, {"\xF0", "\x9F"}, {"!", "?"},
};

VocabData tiny_vocab(const std::string& pre = "gpt2", const std::vector<TinyToken>& extra = {}) {
  VocabData vocab;
  vocab.pre = pre;
  for (int byte = 0; byte < 256; ++byte) {
    vocab.tokens.push_back(byte_level_encode(std::string(1, static_cast<char>(byte))));
    vocab.token_types.push_back(TokenType::NORMAL);
  }
  for (const auto& [left, right] : TINY_MERGES) {
    vocab.tokens.push_back(byte_level_encode(left + right));
    vocab.token_types.push_back(TokenType::NORMAL);
    vocab.merges.push_back(byte_level_encode(left) + " " + byte_level_encode(right));
  }
  for (const TinyToken& token : extra) {
    const bool literal = token.type == TokenType::CONTROL || token.type == TokenType::USER_DEFINED;
    vocab.tokens.push_back(literal ? token.bytes : byte_level_encode(token.bytes));
    vocab.token_types.push_back(token.type);
  }
  return vocab;
}

const std::vector<TinyToken> TINY_SPECIALS = {
    {"<|im_start|>", TokenType::CONTROL},
    {"<|im_end|>", TokenType::CONTROL},
    {"<|im", TokenType::CONTROL},
    {"<think>", TokenType::USER_DEFINED},
    {"xy", TokenType::USER_DEFINED},
    {"yzzz", TokenType::USER_DEFINED},
};

// Id of a token given by its raw bytes, or by its text for literal tokens.
int32_t id_of(const Tokenizer& tokenizer, const std::string& bytes) {
  std::optional<int32_t> id = tokenizer.find_token(byte_level_encode(bytes));
  if (!id) id = tokenizer.find_token(bytes);
  EXPECT_TRUE(id.has_value()) << "no token for \"" << bytes << "\"";
  return id.value_or(-1);
}

std::vector<int32_t> ids_of(const Tokenizer& tokenizer, const std::vector<std::string>& pieces) {
  std::vector<int32_t> ids;
  for (const std::string& piece : pieces) ids.push_back(id_of(tokenizer, piece));
  return ids;
}

std::vector<std::string> split(const std::string& pre, const std::string& text) {
  const PreTokenizer pre_tokenizer(pre);
  std::vector<std::string> pieces;
  for (const std::string_view piece : pre_tokenizer.split(text)) pieces.emplace_back(piece);
  return pieces;
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet and UTF-8 helpers

TEST(ByteLevel, MapsGpt2Alphabet) {
  EXPECT_EQ(byte_to_code_point('A'), U'A');
  EXPECT_EQ(byte_to_code_point(' '), U'\u0120');   // 'Ġ'
  EXPECT_EQ(byte_to_code_point('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(byte_to_code_point(0x00), U'\u0100');
  EXPECT_EQ(byte_to_code_point(0xAD), U'\u0143');  // the last of the 68 remapped bytes
  EXPECT_EQ(byte_to_code_point(0xFF), U'\u00FF');
  for (int byte = 0; byte < 256; ++byte) {
    const std::optional<unsigned char> back = code_point_to_byte(byte_to_code_point(static_cast<unsigned char>(byte)));
    ASSERT_TRUE(back.has_value()) << byte;
    EXPECT_EQ(*back, byte);
  }
  EXPECT_FALSE(code_point_to_byte(U' ').has_value());
  EXPECT_FALSE(code_point_to_byte(U'\u0144').has_value());
}

TEST(ByteLevel, EncodeDecodeRoundTrip) {
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) all_bytes += static_cast<char>(byte);
  EXPECT_EQ(byte_level_encode(" the\n"), "\u0120the\u010A");
  EXPECT_EQ(byte_level_decode(byte_level_encode(all_bytes)), all_bytes);
  EXPECT_FALSE(byte_level_decode("a b").has_value());
}

TEST(Utf8, FindsFirstInvalidByte) {
  EXPECT_FALSE(find_invalid_utf8("plain ascii").has_value());
  EXPECT_FALSE(find_invalid_utf8("caf\u00e9 \U0001F600").has_value());
  EXPECT_EQ(find_invalid_utf8("ab\xC3("), 2u);         // lead byte without continuation
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);    // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abc\xE2\x82"), 3u);      // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);             // stray continuation byte
}

TEST(Utf8, ReplacesMaximalSubparts) {
  // "\xF0\x9F" is one truncated sequence, so one U+FFFD. "\xFF" and "\x80" get one each.
  EXPECT_EQ(replace_invalid_utf8("a\xF0\x9F" "b\xFF\x80"), "a\uFFFDb\uFFFD\uFFFD");
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82\xAC"), "\u20AC");
}

// ---------------------------------------------------------------------------------------------
// BPE merges

TEST(TokenizerBpe, LowerRankMergesFirst) {
  const Tokenizer tokenizer(tiny_vocab());
  EXPECT_EQ(tokenizer.encode("abc"), ids_of(tokenizer, {"abc"}));
  EXPECT_EQ(tokenizer.encode("ab"), ids_of(tokenizer, {"ab"}));
  EXPECT_EQ(tokenizer.encode("bc"), ids_of(tokenizer, {"bc"}));
  EXPECT_EQ(tokenizer.encode("abcab"), ids_of(tokenizer, {"abc", "ab"}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  const Tokenizer tokenizer(tiny_vocab());
  EXPECT_EQ(tokenizer.encode("aaa"), ids_of(tokenizer, {"aa", "a"}));
  EXPECT_EQ(tokenizer.encode("aaaaa"), ids_of(tokenizer, {"aa", "aa", "a"}));
}

TEST(TokenizerBpe, MergesChainWithinPieces) {
  const Tokenizer tokenizer(tiny_vocab());
  EXPECT_EQ(tokenizer.encode(" the"), ids_of(tokenizer, {" the"}));
  EXPECT_EQ(tokenizer.encode("the the"), ids_of(tokenizer, {"t", "he", " the"}));
  // The GPT-2 regex splits "ab ab" into "ab" and " ab", and no merge joins " " and "a".
  EXPECT_EQ(tokenizer.encode("ab ab"), ids_of(tokenizer, {"ab", " ", "ab"}));
}

TEST(TokenizerBpe, DecodeUndoesByteLevel) {
  const Tokenizer tokenizer(tiny_vocab());
  const std::string text = "the abc\n\tcaf\u00e9 \U0001F600 aaa";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  EXPECT_EQ(tokenizer.token_bytes(id_of(tokenizer, " the")), " the");
  EXPECT_EQ(tokenizer.token_bytes(id_of(tokenizer, "\n")), "\n");
}

TEST(TokenizerBpe, BytesWithoutTokenAreDropped) {
  // Without a token for 0x04, the piece "!\x04?" encodes like "!?", as `tokenizers` does
  // without an unknown token (SmolLM2 lacks 21 byte tokens).
  VocabData vocab = tiny_vocab();
  vocab.tokens[0x04] = "unused";
  const Tokenizer tokenizer(std::move(vocab));
  EXPECT_EQ(tokenizer.encode("!\x04?"), ids_of(tokenizer, {"!?"}));
  EXPECT_TRUE(tokenizer.encode("\x04").empty());
}

TEST(TokenizerBpe, IgnoresMergesOutsideVocabulary) {
  VocabData vocab = tiny_vocab();
  vocab.merges.insert(vocab.merges.begin(), "q r");  // "qr" is not a token
  const Tokenizer tokenizer(std::move(vocab));
  EXPECT_EQ(tokenizer.encode("qr"), ids_of(tokenizer, {"q", "r"}));
  EXPECT_EQ(tokenizer.encode("abc"), ids_of(tokenizer, {"abc"}));
}

TEST(TokenizerBpe, RejectsInvalidVocabulary) {
  VocabData wrong_model = tiny_vocab();
  wrong_model.model = "llama";
  const std::string model_message = error_message([&] { Tokenizer tokenizer(std::move(wrong_model)); });
  EXPECT_NE(model_message.find("\"llama\""), std::string::npos) << model_message;
  EXPECT_NE(model_message.find("gpt2"), std::string::npos) << model_message;

  VocabData wrong_pre = tiny_vocab("llama3");
  const std::string pre_message = error_message([&] { Tokenizer tokenizer(std::move(wrong_pre)); });
  EXPECT_NE(pre_message.find("\"llama3\""), std::string::npos) << pre_message;
  for (const char* name : {"default", "gpt2", "qwen2", "smollm"}) {
    EXPECT_NE(pre_message.find(name), std::string::npos) << pre_message;
  }

  VocabData bad_merge = tiny_vocab();
  bad_merge.merges.push_back("nospace");
  EXPECT_THROW(Tokenizer tokenizer(std::move(bad_merge)), Error);

  VocabData bad_types = tiny_vocab();
  bad_types.token_types.pop_back();
  EXPECT_THROW(Tokenizer tokenizer(std::move(bad_types)), Error);

  VocabData bad_eos = tiny_vocab();
  bad_eos.eos_id = static_cast<int32_t>(bad_eos.tokens.size());
  EXPECT_THROW(Tokenizer tokenizer(std::move(bad_eos)), Error);
}

TEST(TokenizerBpe, RejectsInvalidTokenId) {
  const Tokenizer tokenizer(tiny_vocab());
  EXPECT_THROW(tokenizer.token_bytes(-1), Error);
  EXPECT_THROW(tokenizer.token_bytes(tokenizer.n_vocab()), Error);
  EXPECT_THROW(tokenizer.token_type(tokenizer.n_vocab()), Error);
}

TEST(TokenizerBpe, EncodesConcurrently) {
  const Tokenizer tokenizer(tiny_vocab("smollm", TINY_SPECIALS));
  const std::string text = "the abc 123 <|im_start|>user\n aaa <think> \U0001F600\n";
  const std::vector<int32_t> expected = tokenizer.encode(text);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) mismatches[t] += tokenizer.encode(text) != expected;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const int count : mismatches) EXPECT_EQ(count, 0);
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, Gpt2Regex) {
  EXPECT_EQ(split("gpt2", "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("gpt2", "I'm  here!!"), (Pieces{"I", "'m", " ", " here", "!!"}));
  EXPECT_EQ(split("gpt2", "DON'T"), (Pieces{"DON", "'", "T"}));  // contractions are lowercase only
  EXPECT_EQ(split("gpt2", "x\n\n y"), (Pieces{"x", "\n\n", " y"}));
  EXPECT_EQ(split("gpt2", "trailing  "), (Pieces{"trailing", "  "}));
  EXPECT_EQ(split("gpt2", " 2024abc"), (Pieces{" 2024", "abc"}));
  EXPECT_EQ(split("gpt2", "caf\u00e9 \u4e2d\u6587!?"), (Pieces{"caf\u00e9", " \u4e2d\u6587", "!?"}));
  EXPECT_EQ(split("default", "a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_TRUE(split("gpt2", "").empty());
}

TEST(PreTokenizer, WhitespaceMatchesOniguruma) {
  // U+00A0 and U+3000 are whitespace (category Zs). U+180E is a format character, which PCRE2
  // alone would count as whitespace. `tokenizers` keeps "\u180e\u180e" as one piece.
  EXPECT_EQ(split("gpt2", "x\u00a0 y"), (Pieces{"x", "\u00a0", " y"}));
  EXPECT_EQ(split("gpt2", "x\u3000y"), (Pieces{"x", "\u3000", "y"}));
  EXPECT_EQ(split("gpt2", "a\u180e\u180e" "b"), (Pieces{"a", "\u180e\u180e", "b"}));
  EXPECT_EQ(split("gpt2", "a\u0085\u0085 b"), (Pieces{"a", "\u0085\u0085", " b"}));
}

TEST(PreTokenizer, SmolLmIsolatesEveryDigit) {
  EXPECT_EQ(split("smollm", "2024"), (Pieces{"2", "0", "2", "4"}));
  EXPECT_EQ(split("smollm", "a 12 b"), (Pieces{"a", " ", "1", "2", " b"}));
  // The GPT-2 regex runs on the text between digits, so "x  " keeps its spaces together.
  EXPECT_EQ(split("smollm", "x  1"), (Pieces{"x", "  ", "1"}));
  EXPECT_EQ(split("smollm", "v2.0"), (Pieces{"v", "2", ".", "0"}));
  // Every \p{N} character, not only 0-9: Arabic-Indic three (Nd), one half (No), twelve (Nl).
  EXPECT_EQ(split("smollm", "\u0663\u00bd\u216b"), (Pieces{"\u0663", "\u00bd", "\u216b"}));
  EXPECT_EQ(split("smollm", "I'm ok"), (Pieces{"I", "'m", " ok"}));
}

TEST(PreTokenizer, Qwen2Regex) {
  EXPECT_EQ(split("qwen2", "DON'T"), (Pieces{"DON", "'T"}));  // case-insensitive contractions
  EXPECT_EQ(split("qwen2", "Hello, world"), (Pieces{"Hello", ",", " world"}));
  EXPECT_EQ(split("qwen2", "$100"), (Pieces{"$", "1", "0", "0"}));
  EXPECT_EQ(split("qwen2", "_foo bar"), (Pieces{"_foo", " bar"}));
  EXPECT_EQ(split("qwen2", "x.\n\ny"), (Pieces{"x", ".\n\n", "y"}));
  EXPECT_EQ(split("qwen2", " \n "), (Pieces{" \n", " "}));
  EXPECT_EQ(split("qwen2", "  hi"), (Pieces{" ", " hi"}));
  EXPECT_EQ(split("qwen2", "a\r\nb"), (Pieces{"a", "\r\n", "b"}));
}

TEST(PreTokenizer, LongWhitespaceRun) {
  // "\s*[\r\n]+" backtracks across the whole run, which PCRE2's default match limit rejects.
  const std::string text = std::string(10'000'000, ' ') + "x";
  const Pieces pieces = split("qwen2", text);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].size(), 9'999'999u);
  EXPECT_EQ(pieces[1], " x");
}

TEST(PreTokenizer, Llama3GroupsDigitsInThrees) {
  EXPECT_EQ(split("llama-bpe", "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(split("llama-bpe", "x 42"), (Pieces{"x", " ", "42"}));
  EXPECT_EQ(split("llama-bpe", "DON'T"), (Pieces{"DON", "'T"}));
}

TEST(PreTokenizer, RejectsUnknownName) {
  const std::string message = error_message([] { PreTokenizer pre_tokenizer("falcon"); });
  EXPECT_NE(message.find("\"falcon\""), std::string::npos) << message;
  EXPECT_NE(message.find("smollm"), std::string::npos) << message;
  EXPECT_NE(message.find("qwen2"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------------
// Special tokens

TEST(TokenizerSpecial, LongestMatchWins) {
  const Tokenizer tokenizer(tiny_vocab("gpt2", TINY_SPECIALS));
  const int32_t im_start = id_of(tokenizer, "<|im_start|>");
  const int32_t im_prefix = id_of(tokenizer, "<|im");
  EXPECT_EQ(tokenizer.encode("<|im_start|>"), (std::vector<int32_t>{im_start}));

  std::vector<int32_t> expected = {im_prefix};
  for (const int32_t id : ids_of(tokenizer, {"_", "x"})) expected.push_back(id);
  EXPECT_EQ(tokenizer.encode("<|im_x"), expected);
}

TEST(TokenizerSpecial, LeftmostMatchWins) {
  // "xy" starts before the longer "yzzz", so "xyzzz" is "xy" followed by ordinary "zzz".
  const Tokenizer tokenizer(tiny_vocab("gpt2", TINY_SPECIALS));
  std::vector<int32_t> expected = {id_of(tokenizer, "xy")};
  for (const int32_t id : ids_of(tokenizer, {"z", "z", "z"})) expected.push_back(id);
  EXPECT_EQ(tokenizer.encode("xyzzz"), expected);
}

TEST(TokenizerSpecial, TextBetweenIsPreTokenized) {
  const Tokenizer tokenizer(tiny_vocab("gpt2", TINY_SPECIALS));
  const int32_t im_start = id_of(tokenizer, "<|im_start|>");
  const int32_t im_end = id_of(tokenizer, "<|im_end|>");

  std::vector<int32_t> expected = {im_start};
  for (const int32_t id : ids_of(tokenizer, {"t", "he", " the", "\n"})) expected.push_back(id);
  expected.push_back(im_end);
  for (const int32_t id : ids_of(tokenizer, {" ", "abc"})) expected.push_back(id);
  EXPECT_EQ(tokenizer.encode("<|im_start|>the the\n<|im_end|> abc"), expected);
}

TEST(TokenizerSpecial, ParseSpecialFalseSplitsControlTokens) {
  const Tokenizer tokenizer(tiny_vocab("gpt2", TINY_SPECIALS));
  const std::string text = "<|im_end|><think>";
  const std::vector<int32_t> ids = tokenizer.encode(text, /*parse_special=*/false);

  // The control token is split like text ("<|", "im", "_", "end", "|>"), but the
  // user-defined "<think>" still matches, as in `tokenizers`.
  std::vector<int32_t> expected = ids_of(tokenizer, {"<", "|", "i", "m", "_", "e", "n", "d", "|", ">"});
  expected.push_back(id_of(tokenizer, "<think>"));
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tokenizer.decode(ids), text);
}

TEST(TokenizerSpecial, ControlTokensDecodeToText) {
  const Tokenizer tokenizer(tiny_vocab("gpt2", TINY_SPECIALS));
  const int32_t im_end = id_of(tokenizer, "<|im_end|>");
  EXPECT_EQ(tokenizer.token_type(im_end), TokenType::CONTROL);
  EXPECT_EQ(tokenizer.token_bytes(im_end), "<|im_end|>");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a<|im_end|>b")), "a<|im_end|>b");
}

TEST(TokenizerSpecial, EndOfGeneration) {
  VocabData vocab = tiny_vocab("gpt2", {{"<|endoftext|>", TokenType::CONTROL},
                                        {"<|im_end|>", TokenType::CONTROL},
                                        {"<|eot|>", TokenType::CONTROL}});
  const auto n = static_cast<int32_t>(vocab.tokens.size());
  vocab.eos_id = 0;  // an unusual EOS, to see that the id is honoured
  vocab.eot_id = n - 1;
  const Tokenizer tokenizer(std::move(vocab));
  EXPECT_TRUE(tokenizer.is_end_of_generation(0));
  EXPECT_TRUE(tokenizer.is_end_of_generation(n - 1));
  EXPECT_TRUE(tokenizer.is_end_of_generation(n - 2));  // <|im_end|>
  EXPECT_TRUE(tokenizer.is_end_of_generation(n - 3));  // <|endoftext|>
  EXPECT_FALSE(tokenizer.is_end_of_generation(id_of(tokenizer, "a")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(-1));
}

TEST(TokenizerSpecial, EndOfGenerationNeedsControlType) {
  // A normal token that happens to read "<|im_end|>" does not end generation.
  const Tokenizer tokenizer(tiny_vocab("gpt2", {{"<|im_end|>", TokenType::NORMAL}}));
  EXPECT_FALSE(tokenizer.is_end_of_generation(tokenizer.n_vocab() - 1));
}

// ---------------------------------------------------------------------------------------------
// Invalid input

TEST(TokenizerInput, InvalidUtf8NamesOffset) {
  const Tokenizer tokenizer(tiny_vocab());
  const std::string message = error_message([&] { tokenizer.encode("abc\xC3("); });
  EXPECT_NE(message.find("byte offset 3"), std::string::npos) << message;
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;

  EXPECT_THROW(tokenizer.encode("\xED\xA0\x80"), Error);
  EXPECT_THROW(tokenizer.encode("ok\xF0\x9F"), Error);
}

TEST(TokenizerInput, EmptyText) {
  const Tokenizer tokenizer(tiny_vocab());
  EXPECT_TRUE(tokenizer.encode("").empty());
  EXPECT_EQ(tokenizer.decode({}), "");
}

// ---------------------------------------------------------------------------------------------
// StreamDecoder

TEST(StreamDecoder, EmojiSplitAcrossTokens) {
  // U+1F600 is F0 9F 98 80: the merged token "\xF0\x9F", then two byte tokens.
  const Tokenizer tokenizer(tiny_vocab());
  const std::vector<int32_t> ids = tokenizer.encode("\U0001F600!");
  ASSERT_EQ(ids, ids_of(tokenizer, {"\xF0\x9F", "\x98", "\x80", "!"}));

  StreamDecoder decoder(tokenizer);
  EXPECT_EQ(decoder.push(ids[0]), "");
  EXPECT_EQ(decoder.push(ids[1]), "");
  EXPECT_EQ(decoder.push(ids[2]), "\U0001F600");
  EXPECT_EQ(decoder.push(ids[3]), "!");
  EXPECT_EQ(decoder.flush(), "");
}

TEST(StreamDecoder, EmojiAcrossByteToken) {
  // A BYTE token ("<0x98>") in the middle of the character, between two multi-byte tokens.
  const Tokenizer tokenizer(tiny_vocab("gpt2", {{"a\xF0\x9F"}, {"<0x98>", TokenType::BYTE}, {"\x80" "b"}}));
  const int32_t n = tokenizer.n_vocab();
  StreamDecoder decoder(tokenizer);
  EXPECT_EQ(decoder.push(n - 3), "a");
  EXPECT_EQ(decoder.push(n - 2), "");
  EXPECT_EQ(decoder.push(n - 1), "\U0001F600" "b");
  EXPECT_EQ(decoder.flush(), "");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacter) {
  const Tokenizer tokenizer(tiny_vocab());
  StreamDecoder decoder(tokenizer);
  // 0xFF can never start a character, so it is replaced at once.
  EXPECT_EQ(decoder.push(id_of(tokenizer, "\xFF")), "\uFFFD");
  // An unfinished sequence followed by ASCII is one U+FFFD, then the ASCII.
  EXPECT_EQ(decoder.push(id_of(tokenizer, "\xF0\x9F")), "");
  EXPECT_EQ(decoder.push(id_of(tokenizer, "a")), "\uFFFDa");
  // An unfinished sequence at the end is flushed as one U+FFFD.
  EXPECT_EQ(decoder.push(id_of(tokenizer, "\xF0\x9F")), "");
  EXPECT_EQ(decoder.flush(), "\uFFFD");
  EXPECT_EQ(decoder.flush(), "");
}

// ---------------------------------------------------------------------------------------------
// Chat formatting

// SmolLM2-135M-Instruct's template, as stored in its GGUF (real newlines in the literals).
const std::string SMOLLM2_TEMPLATE =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Abridged from Qwen2.5-Instruct's template, whose literals hold the escape "\n".
const std::string QWEN25_TEMPLATE = R"({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query." }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)";

// Abridged from Qwen3's template, which writes a system turn only when the messages have one.
const std::string QWEN3_TEMPLATE = R"({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)";

TEST(ChatTemplate, DefaultSystemMessageSmolLm2) {
  EXPECT_EQ(default_system_message(SMOLLM2_TEMPLATE),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

TEST(ChatTemplate, DefaultSystemMessageQwen25) {
  EXPECT_EQ(default_system_message(QWEN25_TEMPLATE), "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
}

TEST(ChatTemplate, NoDefaultSystemMessage) {
  EXPECT_EQ(default_system_message(QWEN3_TEMPLATE), "");
  EXPECT_EQ(default_system_message(""), "");
  EXPECT_EQ(default_system_message("{{ '<|im_start|>system\\n' + system + '<|im_end|>' }}"), "");
}

TEST(ChatTemplate, DefaultSystemMessageUnescapes) {
  EXPECT_EQ(default_system_message(R"({{ '<|im_start|>system\nYou\'re "kind".\nBe brief.<|im_end|>\n' }})"),
            "You're \"kind\".\nBe brief.");
  EXPECT_EQ(default_system_message(R"({{ "<|im_start|>system\nDon't panic.<|im_end|>" }})"), "Don't panic.");
}

TEST(ChatTemplate, FormatChatmlWithDefaultSystem) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  EXPECT_EQ(format_chatml(messages, SMOLLM2_TEMPLATE),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, FormatChatmlKeepsOwnSystem) {
  const std::vector<ChatMessage> messages = {
      {"system", "Be terse."}, {"user", "2+2?"}, {"assistant", "4"}, {"user", "3+3?"}};
  EXPECT_EQ(format_chatml(messages, QWEN25_TEMPLATE),
            "<|im_start|>system\nBe terse.<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\n3+3?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, FormatChatmlWithoutGenerationPrompt) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}, {"assistant", "Hello!"}};
  EXPECT_EQ(format_chatml(messages, QWEN3_TEMPLATE, /*add_generation_prompt=*/false),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n");
}

TEST(ChatTemplate, FormatChatmlWithoutMessages) {
  EXPECT_EQ(format_chatml({}, ""), "<|im_start|>assistant\n");
  EXPECT_EQ(format_chatml({}, QWEN25_TEMPLATE),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>assistant\n");
}

// ---------------------------------------------------------------------------------------------
// The real SmolLM2 vocabulary against ids from Hugging Face `tokenizers`

const char* model_path() { return std::getenv("LIM_MODEL"); }

nlohmann::json load_fixture() {
  const std::string path = std::string(LIM_FIXTURE_DIR) + "/tokenizer_cases.json";
  std::ifstream file(path);
  if (!file) throw Error("failed to open the tokenizer fixture " + path);
  return nlohmann::json::parse(file);
}

TEST(TokenizerModel, MatchesHuggingFaceFixture) {
  if (model_path() == nullptr) GTEST_SKIP() << "set LIM_MODEL to the SmolLM2-135M-Instruct GGUF to run this test";
  const GgufFile file = GgufFile::open(model_path());
  const VocabData vocab = read_vocab(file);
  ASSERT_EQ(vocab.pre, "smollm");

  std::map<std::string, Tokenizer> tokenizers;
  for (const char* pre : {"smollm", "qwen2"}) {
    VocabData copy = vocab;
    copy.pre = pre;
    tokenizers.emplace(pre, Tokenizer(std::move(copy)));
  }

  const nlohmann::json fixture = load_fixture();
  std::map<std::string, int> case_counts;
  int index = 0;
  for (const nlohmann::json& test_case : fixture.at("cases")) {
    const std::string pre = test_case.at("pre");
    const std::string text = test_case.at("text");
    const bool parse_special = test_case.at("parse_special");
    const std::vector<int32_t> expected = test_case.at("ids");
    SCOPED_TRACE("case " + std::to_string(index++) + " (" + pre + ", parse_special=" +
                 (parse_special ? "true" : "false") + "): " + nlohmann::json(text).dump());

    const Tokenizer& tokenizer = tokenizers.at(pre);
    const std::vector<int32_t> ids = tokenizer.encode(text, parse_special);
    EXPECT_EQ(ids, expected);
    EXPECT_EQ(tokenizer.decode(ids), text);
    ++case_counts[pre];
  }
  EXPECT_GT(case_counts["smollm"], 0);
  EXPECT_GT(case_counts["qwen2"], 0);
}

TEST(TokenizerModel, SmolLm2Metadata) {
  if (model_path() == nullptr) GTEST_SKIP() << "set LIM_MODEL to the SmolLM2-135M-Instruct GGUF to run this test";
  const GgufFile file = GgufFile::open(model_path());
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);

  EXPECT_EQ(tokenizer.n_vocab(), 49152);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.eot_id(), -1);
  EXPECT_FALSE(tokenizer.add_bos());
  EXPECT_EQ(tokenizer.find_token("<|im_end|>"), 2);
  EXPECT_EQ(tokenizer.token_type(1), TokenType::CONTROL);
  EXPECT_TRUE(tokenizer.is_end_of_generation(2));  // <|im_end|>, the EOS
  EXPECT_TRUE(tokenizer.is_end_of_generation(0));  // <|endoftext|>
  EXPECT_FALSE(tokenizer.is_end_of_generation(1));
  EXPECT_EQ(default_system_message(tokenizer.chat_template()),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");

  const nlohmann::json fixture = load_fixture();
  for (const int32_t id : fixture.at("special_token_ids")) {
    EXPECT_EQ(tokenizer.token_type(id), TokenType::CONTROL) << id;
  }
}

}  // namespace
}  // namespace lim
