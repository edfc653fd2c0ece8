#include "formats/unicode.h"

#include <array>
#include <cstdint>

namespace lim {
namespace {

struct LeadByte {
  size_t length;           // bytes in the whole sequence, 0 for a byte that cannot lead
  unsigned char second_min;  // range of the second byte (Unicode Table 3-7)
  unsigned char second_max;
};

constexpr LeadByte classify_lead_byte(unsigned char byte) {
  if (byte < 0x80) return {1, 0, 0};
  if (byte < 0xC2) return {0, 0, 0};  // continuation byte, or overlong C0/C1
  if (byte < 0xE0) return {2, 0x80, 0xBF};
  if (byte == 0xE0) return {3, 0xA0, 0xBF};  // no overlong 3-byte forms
  if (byte == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (byte < 0xF0) return {3, 0x80, 0xBF};
  if (byte == 0xF0) return {4, 0x90, 0xBF};  // no overlong 4-byte forms
  if (byte < 0xF4) return {4, 0x80, 0xBF};
  if (byte == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

constexpr bool is_printable_byte(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_to_code_point() {
  std::array<char32_t, 256> map{};
  char32_t next = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    map[byte] = is_printable_byte(byte) ? static_cast<char32_t>(byte) : next++;
  }
  return map;
}

constexpr std::array<char32_t, 256> BYTE_TO_CODE_POINT = make_byte_to_code_point();
constexpr char32_t MAX_BYTE_LEVEL_CODE_POINT = 0x100 + 68 - 1;

constexpr std::array<int16_t, MAX_BYTE_LEVEL_CODE_POINT + 1> make_code_point_to_byte() {
  std::array<int16_t, MAX_BYTE_LEVEL_CODE_POINT + 1> map{};
  for (auto& entry : map) entry = -1;
  for (int byte = 0; byte < 256; ++byte) map[BYTE_TO_CODE_POINT[byte]] = static_cast<int16_t>(byte);
  return map;
}

constexpr std::array<int16_t, MAX_BYTE_LEVEL_CODE_POINT + 1> CODE_POINT_TO_BYTE = make_code_point_to_byte();

}  // namespace

Utf8Sequence read_utf8(std::string_view bytes) {
  const auto lead = static_cast<unsigned char>(bytes[0]);
  const LeadByte kind = classify_lead_byte(lead);
  if (kind.length == 0) return {Utf8Sequence::Status::INVALID, 1, 0};
  if (kind.length == 1) return {Utf8Sequence::Status::COMPLETE, 1, lead};

  char32_t code_point = lead & (0x7F >> kind.length);
  for (size_t i = 1; i < kind.length; ++i) {
    if (i >= bytes.size()) return {Utf8Sequence::Status::TRUNCATED, i, 0};
    const auto byte = static_cast<unsigned char>(bytes[i]);
    const unsigned char min = i == 1 ? kind.second_min : 0x80;
    const unsigned char max = i == 1 ? kind.second_max : 0xBF;
    if (byte < min || byte > max) return {Utf8Sequence::Status::INVALID, i, 0};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {Utf8Sequence::Status::COMPLETE, kind.length, code_point};
}

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  size_t offset = 0;
  while (offset < text.size()) {
    // ASCII fast path.
    if (static_cast<unsigned char>(text[offset]) < 0x80) {
      ++offset;
      continue;
    }
    const Utf8Sequence sequence = read_utf8(text.substr(offset));
    if (sequence.status != Utf8Sequence::Status::COMPLETE) return offset;
    offset += sequence.length;
  }
  return std::nullopt;
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::string replace_invalid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t offset = 0;
  while (offset < bytes.size()) {
    const Utf8Sequence sequence = read_utf8(bytes.substr(offset));
    if (sequence.status == Utf8Sequence::Status::COMPLETE) {
      out.append(bytes.substr(offset, sequence.length));
    } else {
      append_utf8(out, REPLACEMENT_CHARACTER);
    }
    offset += sequence.length;
  }
  return out;
}

char32_t byte_to_code_point(unsigned char byte) { return BYTE_TO_CODE_POINT[byte]; }

std::optional<unsigned char> code_point_to_byte(char32_t code_point) {
  if (code_point > MAX_BYTE_LEVEL_CODE_POINT) return std::nullopt;
  const int16_t byte = CODE_POINT_TO_BYTE[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<unsigned char>(byte);
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char byte : bytes) append_utf8(out, byte_to_code_point(static_cast<unsigned char>(byte)));
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) {
    const Utf8Sequence sequence = read_utf8(text.substr(offset));
    if (sequence.status != Utf8Sequence::Status::COMPLETE) return std::nullopt;
    const std::optional<unsigned char> byte = code_point_to_byte(sequence.code_point);
    if (!byte) return std::nullopt;
    out += static_cast<char>(*byte);
    offset += sequence.length;
  }
  return out;
}

}  // namespace lim
