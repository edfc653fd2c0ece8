// UTF-8 decoding and validation, and the GPT-2 byte-level alphabet that byte-level BPE
// vocabularies (tokenizer.ggml.model = "gpt2") are written in.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lim {

inline constexpr char32_t REPLACEMENT_CHARACTER = 0xFFFD;

// One UTF-8 sequence read from the start of a byte string. Well-formed sequences are those of
// Table 3-7 in the Unicode Standard, so overlong forms, surrogates and code points above
// U+10FFFF are invalid.
struct Utf8Sequence {
  enum class Status {
    COMPLETE,   // a whole character
    TRUNCATED,  // the bytes present are a valid start of a character, but the string ends first
    INVALID,    // an ill-formed sequence
  };
  Status status = Status::INVALID;
  // COMPLETE: the bytes of the character. TRUNCATED: the bytes present. INVALID: the bytes of
  // the maximal subpart that one U+FFFD replaces, at least 1 (as Python's errors="replace").
  size_t length = 0;
  char32_t code_point = 0;  // COMPLETE only
};

// Reads the sequence at the start of `bytes`, which must not be empty.
Utf8Sequence read_utf8(std::string_view bytes);

// Returns the byte offset of the first byte that does not begin a complete, well-formed
// character, or nothing when the whole text is valid UTF-8.
std::optional<size_t> find_invalid_utf8(std::string_view text);

void append_utf8(std::string& out, char32_t code_point);

// Replaces each ill-formed or truncated sequence with U+FFFD.
std::string replace_invalid_utf8(std::string_view bytes);

// Maps a byte to its character in the GPT-2 byte-level alphabet (`bytes_to_unicode` in OpenAI's
// encoder.py, also used by the Hugging Face ByteLevel pre-tokenizer). The printable bytes
// '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves. The other 68 bytes, in increasing
// order, map to U+0100 onwards, so the space 0x20 is U+0120 'Ġ' and the newline is U+010A 'Ċ'.
char32_t byte_to_code_point(unsigned char byte);

// Returns the byte that `code_point` stands for, or nothing when it is outside the alphabet.
std::optional<unsigned char> code_point_to_byte(char32_t code_point);

// Writes each byte as the UTF-8 of its byte-level character.
std::string byte_level_encode(std::string_view bytes);

// Undoes byte_level_encode. Returns nothing when `text` is not valid UTF-8 or contains a
// character outside the byte-level alphabet.
std::optional<std::string> byte_level_decode(std::string_view text);

}  // namespace lim
