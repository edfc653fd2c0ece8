#include "formats/gguf_writer.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "common.h"

namespace lim {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32

// Returns the inclusive range of an integer type.
std::pair<int64_t, int64_t> integer_range(GgufType type) {
  switch (type) {
    case GgufType::UINT8: return {0, std::numeric_limits<uint8_t>::max()};
    case GgufType::INT8:
      return {std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max()};
    case GgufType::UINT16: return {0, std::numeric_limits<uint16_t>::max()};
    case GgufType::INT16:
      return {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max()};
    case GgufType::UINT32: return {0, std::numeric_limits<uint32_t>::max()};
    case GgufType::INT32:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    // GgufValue stores integers as int64, so UINT64 values stop at INT64_MAX.
    case GgufType::UINT64: return {0, std::numeric_limits<int64_t>::max()};
    case GgufType::INT64:
      return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
    default:
      throw Error(std::string("GGUF type ") + gguf_type_name(type) + " is not an integer type");
  }
}

// Throws when the value's fields do not match its type. `context` starts the message.
void check_value(const GgufValue& value, const std::string& context) {
  const uint32_t id = static_cast<uint32_t>(value.type);
  if (id > static_cast<uint32_t>(GgufType::FLOAT64)) {
    throw Error(context + ": invalid value type " + std::to_string(id));
  }
  switch (value.type) {
    case GgufType::FLOAT32:
    case GgufType::FLOAT64:
    case GgufType::BOOL:
    case GgufType::STRING:
      return;
    case GgufType::ARRAY:
      for (const GgufValue& element : value.array) {
        if (element.type != value.array_type) {
          throw Error(context + ": array of " + gguf_type_name(value.array_type) +
                      " contains a " + gguf_type_name(element.type) + " element");
        }
        check_value(element, context);
      }
      return;
    default: {
      const auto [min, max] = integer_range(value.type);
      if (value.integer < min || value.integer > max) {
        throw Error(context + ": " + std::to_string(value.integer) +
                    " is out of range for " + gguf_type_name(value.type));
      }
    }
  }
}

// Appends little-endian encodings to a byte buffer.
class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& bytes) : bytes_(bytes) {}

  template <class T>
  void put(T value) {
    append(&value, sizeof(T));
  }

  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }

  void put_bytes(const std::vector<uint8_t>& data) { append(data.data(), data.size()); }

  void pad_to(uint64_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, 0);
  }

  // Writes the value without its type tag; array elements are encoded this way.
  void put_value(const GgufValue& value) {
    switch (value.type) {
      case GgufType::UINT8: put<uint8_t>(uint8_t(value.integer)); break;
      case GgufType::INT8: put<int8_t>(int8_t(value.integer)); break;
      case GgufType::UINT16: put<uint16_t>(uint16_t(value.integer)); break;
      case GgufType::INT16: put<int16_t>(int16_t(value.integer)); break;
      case GgufType::UINT32: put<uint32_t>(uint32_t(value.integer)); break;
      case GgufType::INT32: put<int32_t>(int32_t(value.integer)); break;
      case GgufType::UINT64: put<uint64_t>(uint64_t(value.integer)); break;
      case GgufType::INT64: put<int64_t>(value.integer); break;
      case GgufType::FLOAT32: put<float>(float(value.real)); break;
      case GgufType::FLOAT64: put<double>(value.real); break;
      case GgufType::BOOL: put<uint8_t>(value.boolean ? 1 : 0); break;
      case GgufType::STRING: put_string(value.string); break;
      case GgufType::ARRAY:
        put<uint32_t>(static_cast<uint32_t>(value.array_type));
        put<uint64_t>(value.array.size());
        for (const GgufValue& element : value.array) put_value(element);
        break;
    }
  }

 private:
  // resize + memcpy rather than vector::insert, which trips a false -Wstringop-overflow
  // warning in GCC 12.
  void append(const void* data, size_t n) {
    if (n == 0) return;
    const size_t at = bytes_.size();
    bytes_.resize(at + n);
    std::memcpy(bytes_.data() + at, data, n);
  }

  std::vector<uint8_t>& bytes_;
};

}  // namespace

GgufValue gguf_int(GgufType type, int64_t value) {
  integer_range(type);  // throws for a type that is not an integer type
  GgufValue result;
  result.type = type;
  result.integer = value;
  check_value(result, "gguf_int");
  return result;
}

GgufValue gguf_float(GgufType type, double value) {
  if (type != GgufType::FLOAT32 && type != GgufType::FLOAT64) {
    throw Error(std::string("gguf_float: ") + gguf_type_name(type) + " is not FLOAT32 or FLOAT64");
  }
  GgufValue result;
  result.type = type;
  result.real = type == GgufType::FLOAT32 ? double(float(value)) : value;
  return result;
}

GgufValue gguf_bool(bool value) {
  GgufValue result;
  result.type = GgufType::BOOL;
  result.boolean = value;
  return result;
}

GgufValue gguf_string(std::string value) {
  GgufValue result;
  result.type = GgufType::STRING;
  result.string = std::move(value);
  return result;
}

GgufValue gguf_array(GgufType element_type, std::vector<GgufValue> elements) {
  GgufValue result;
  result.type = GgufType::ARRAY;
  result.array_type = element_type;
  result.array = std::move(elements);
  check_value(result, "gguf_array");
  return result;
}

GgufValue gguf_string_array(const std::vector<std::string>& values) {
  std::vector<GgufValue> elements;
  elements.reserve(values.size());
  for (const std::string& value : values) elements.push_back(gguf_string(value));
  return gguf_array(GgufType::STRING, std::move(elements));
}

GgufValue gguf_int_array(GgufType element_type, const std::vector<int64_t>& values) {
  std::vector<GgufValue> elements;
  elements.reserve(values.size());
  for (int64_t value : values) elements.push_back(gguf_int(element_type, value));
  return gguf_array(element_type, std::move(elements));
}

GgufValue gguf_float_array(GgufType element_type, const std::vector<double>& values) {
  std::vector<GgufValue> elements;
  elements.reserve(values.size());
  for (double value : values) elements.push_back(gguf_float(element_type, value));
  return gguf_array(element_type, std::move(elements));
}

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  if (!std::has_single_bit(alignment) || alignment > std::numeric_limits<uint32_t>::max()) {
    throw Error("GgufWriter: alignment " + std::to_string(alignment) +
                " is not a power of two that fits in UINT32");
  }
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key == "general.alignment") {
    throw Error("GgufWriter: set general.alignment through the GgufWriter constructor");
  }
  check_value(value, "GgufWriter: metadata key '" + key + "'");
  if (!keys_.insert(key).second) throw Error("GgufWriter: duplicate metadata key '" + key + "'");
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_uint32(const std::string& key, uint32_t value) {
  set(key, gguf_int(GgufType::UINT32, value));
}

void GgufWriter::set_int32(const std::string& key, int32_t value) {
  set(key, gguf_int(GgufType::INT32, value));
}

void GgufWriter::set_float32(const std::string& key, float value) {
  set(key, gguf_float(GgufType::FLOAT32, value));
}

void GgufWriter::set_bool(const std::string& key, bool value) { set(key, gguf_bool(value)); }

void GgufWriter::set_string(const std::string& key, std::string value) {
  set(key, gguf_string(std::move(value)));
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                            const void* data, size_t bytes) {
  if (shape.empty() || shape.size() > 4) {
    throw Error("GgufWriter: tensor '" + name + "' has " + std::to_string(shape.size()) +
                " dimensions; expected 1 to 4");
  }
  int64_t rows = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) {
      throw Error("GgufWriter: tensor '" + name + "' has dimension " + std::to_string(d) + " = " +
                  std::to_string(shape[d]) + "; expected a positive size");
    }
    if (d > 0) rows *= shape[d];
  }
  const int64_t block_size = dtype_traits(type).block_size;
  if (shape[0] % block_size != 0) {
    throw Error("GgufWriter: tensor '" + name + "' has dimension 0 = " + std::to_string(shape[0]) +
                ", not a multiple of the " + dtype_name(type) + " block size " +
                std::to_string(block_size));
  }
  const size_t expected = row_bytes(type, shape[0]) * size_t(rows);
  if (bytes != expected) {
    throw Error("GgufWriter: tensor '" + name + "' has " + std::to_string(bytes) +
                " bytes of data; its type and shape need " + std::to_string(expected));
  }
  if (!tensor_names_.insert(name).second) {
    throw Error("GgufWriter: duplicate tensor name '" + name + "'");
  }
  const auto* begin = static_cast<const uint8_t*>(data);
  tensors_.push_back(
      Tensor{name, type, std::move(shape), std::vector<uint8_t>(begin, begin + bytes)});
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> bytes;
  ByteSink sink(bytes);
  const bool write_alignment = alignment_ != kGgufDefaultAlignment;

  sink.put<uint32_t>(kMagic);
  sink.put<uint32_t>(kGgufVersion);
  sink.put<uint64_t>(tensors_.size());
  sink.put<uint64_t>(metadata_.size() + (write_alignment ? 1 : 0));

  if (write_alignment) {
    sink.put_string("general.alignment");
    sink.put<uint32_t>(static_cast<uint32_t>(GgufType::UINT32));
    sink.put<uint32_t>(uint32_t(alignment_));
  }
  for (const auto& [key, value] : metadata_) {
    sink.put_string(key);
    sink.put<uint32_t>(static_cast<uint32_t>(value.type));
    sink.put_value(value);
  }

  // Each tensor starts at a multiple of the alignment within the data section.
  uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    sink.put_string(tensor.name);
    sink.put<uint32_t>(uint32_t(tensor.shape.size()));
    for (int64_t ne : tensor.shape) sink.put<uint64_t>(uint64_t(ne));
    sink.put<uint32_t>(static_cast<uint32_t>(tensor.type));
    sink.put<uint64_t>(offset);
    offset += (tensor.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }

  sink.pad_to(alignment_);
  for (const Tensor& tensor : tensors_) {
    sink.put_bytes(tensor.data);
    sink.pad_to(alignment_);
  }
  return bytes;
}

void GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = serialize();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    throw Error(path + ": failed to create the file: " + std::strerror(errno));
  }
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
  const int write_error = written == bytes.size() ? 0 : errno;
  if (std::fclose(file) != 0 || write_error != 0) {
    throw Error(path + ": failed to write " + std::to_string(bytes.size()) + " bytes: " +
                std::strerror(write_error != 0 ? write_error : errno));
  }
}

}  // namespace lim
