#include "formats/gguf.h"

#include <bit>
#include <iterator>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "common.h"
#include "formats/mapped_file.h"

namespace lim {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader needs a little-endian CPU");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxDims = 4;              // GGML_MAX_DIMS
// Reading arrays of arrays recurses once per level, and real files nest at most one level. The
// limit keeps a crafted file from exhausting the stack.
constexpr int kMaxArrayDepth = 16;
constexpr uint32_t kLastValueType = static_cast<uint32_t>(GgufType::FLOAT64);

constexpr const char* kTruncatedAdvice = "The file is incomplete; download or copy it again.";
constexpr const char* kCorruptAdvice =
    "The file is corrupt or was not written by a GGUF writer; download it again or convert the "
    "model again with a current llama.cpp.";

// ggml type names by id, for messages about types this engine does not support. Ids 4, 5 and
// 31-33 and 36-38 belong to removed types. Source: enum ggml_type in ggml/include/ggml.h of
// llama.cpp (2025).
const char* ggml_type_name(uint32_t id) {
  static constexpr const char* kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "",       "",      "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16",  "",
      "",        "",       "TQ1_0",   "TQ2_0", "",       "",      "",      "MXFP4",
      "NVFP4",   "Q1_0"};
  if (id >= std::size(kNames) || kNames[id][0] == '\0') return nullptr;
  return kNames[id];
}

std::string supported_type_list() {
  std::string list;
  for (DType type : supported_dtypes()) {
    if (!list.empty()) list += ", ";
    list += dtype_name(type);
  }
  return list;
}

bool is_integer_type(GgufType type) {
  switch (type) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::UINT16:
    case GgufType::INT16:
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::UINT64:
    case GgufType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_float_type(GgufType type) { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }

// Smallest encoding of one value of the type, used to reject array counts that cannot fit in
// the rest of the file before allocating for them.
uint64_t min_encoded_bytes(GgufType type) {
  switch (type) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL:
      return 1;
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64:
    case GgufType::STRING:  // uint64 length
      return 8;
    case GgufType::ARRAY:  // uint32 element type + uint64 count
      return 12;
  }
  return 1;
}

std::string describe_type(const GgufValue& value) {
  if (value.type != GgufType::ARRAY) return gguf_type_name(value.type);
  return std::string("ARRAY of ") + gguf_type_name(value.array_type);
}

// Bounds-checked little-endian reads over the mapped file. Every error names the file, the byte
// offset and the current context (the metadata key or tensor being read).
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return size_ - offset_; }
  void set_context(std::string context) { context_ = std::move(context); }

  // Throws "<path>: at byte offset <at> in <context>: <problem>. <advice>".
  [[noreturn]] void fail(uint64_t at, const std::string& problem, const char* advice) const {
    std::string message = path_ + ": at byte offset " + std::to_string(at);
    if (!context_.empty()) message += " in " + context_;
    throw Error(message + ": " + problem + ". " + advice);
  }

  [[noreturn]] void fail_truncated(uint64_t at, const std::string& field, uint64_t needed) const {
    fail(at,
         "the file is truncated: " + field + " needs " + std::to_string(needed) +
             " bytes but the file ends " + std::to_string(size_ - at) + " bytes later",
         kTruncatedAdvice);
  }

  template <class T>
  T read(const char* field) {
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::string read_string(const char* field) {
    const uint64_t start = offset_;
    const uint64_t length = read<uint64_t>(field);
    if (length > remaining()) {
      fail_truncated(start, std::string(field) + " of " + std::to_string(length) + " bytes",
                     length + 8);
    }
    std::string value(reinterpret_cast<const char*>(data_ + offset_), length);
    offset_ += length;
    return value;
  }

  void require(uint64_t n, const char* field) const {
    if (n > remaining()) fail_truncated(offset_, field, n);
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::string context_;
};

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::UINT8: return "UINT8";
    case GgufType::INT8: return "INT8";
    case GgufType::UINT16: return "UINT16";
    case GgufType::INT16: return "INT16";
    case GgufType::UINT32: return "UINT32";
    case GgufType::INT32: return "INT32";
    case GgufType::FLOAT32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::UINT64: return "UINT64";
    case GgufType::INT64: return "INT64";
    case GgufType::FLOAT64: return "FLOAT64";
  }
  return "unknown";
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t ne : shape) n *= ne;
  return n;
}

namespace {

// Everything read from the file. GgufFile::Impl derives from it so the parser below can fill it
// without access to the private Impl type.
struct FileContents {
  std::string path;
  std::unique_ptr<MappedFile> mapping;
  uint32_t version = 0;
  uint64_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;
  std::map<std::string, GgufValue> metadata;
  std::vector<GgufTensorInfo> tensors;
  std::unordered_map<std::string, size_t> tensor_index;
};

// Parses the file into `impl`. Kept as a class so the steps share the cursor.
class Parser {
 public:
  explicit Parser(FileContents& impl)
      : impl_(impl), cursor_(impl.path, impl.mapping->data(), impl.mapping->size()) {}

  void parse() {
    read_header();
    read_metadata();
    read_tensor_infos();
    locate_data_section();
    validate_tensors();
  }

 private:
  // Byte offsets of a tensor's info fields, for error messages after the infos are read.
  struct InfoOffsets {
    uint64_t dims;
    uint64_t offset;
  };

  void read_header() {
    cursor_.set_context("header");
    const uint32_t magic = cursor_.read<uint32_t>("the magic number");
    if (magic != kMagic) {
      cursor_.fail(0, "not a GGUF file: the first 4 bytes are not \"GGUF\"",
                   "Pass the path of a .gguf model file.");
    }

    const uint64_t version_offset = cursor_.offset();
    impl_.version = cursor_.read<uint32_t>("the version");
    if (impl_.version == 0x03000000) {  // version 3 written big-endian
      cursor_.fail(version_offset, "big-endian GGUF files are not supported",
                   "Convert the model again without --bigendian.");
    }
    // Version 2 has the same layout. This reader still rejects it, because version 3 is what
    // current converters write and the only version it is tested against.
    if (impl_.version != kGgufVersion) {
      cursor_.fail(version_offset,
                   "unsupported GGUF version " + std::to_string(impl_.version) +
                       "; only version 3 is supported",
                   "Convert the model again with a current llama.cpp "
                   "(convert_hf_to_gguf.py writes version 3).");
    }

    tensor_count_at_ = cursor_.offset();
    n_tensors_ = cursor_.read<uint64_t>("the tensor count");
    metadata_count_at_ = cursor_.offset();
    n_metadata_ = cursor_.read<uint64_t>("the metadata count");
  }

  void read_metadata() {
    // A key/value pair takes at least 13 bytes: key length, value type and a 1-byte value.
    check_count_fits(n_metadata_, 13, "metadata count", metadata_count_at_);

    for (uint64_t i = 0; i < n_metadata_; ++i) {
      cursor_.set_context("metadata entry " + std::to_string(i) + " of " +
                          std::to_string(n_metadata_));
      const uint64_t key_offset = cursor_.offset();
      std::string key = cursor_.read_string("the key");
      cursor_.set_context("metadata key '" + key + "'");

      const GgufType type = read_value_type();
      const uint64_t value_offset = cursor_.offset();
      GgufValue value = read_value(type, 0);
      if (key == "general.alignment") set_alignment(value, value_offset);

      if (!impl_.metadata.emplace(std::move(key), std::move(value)).second) {
        cursor_.fail(key_offset, "duplicate metadata key", kCorruptAdvice);
      }
    }
  }

  void read_tensor_infos() {
    // A tensor info takes at least 32 bytes: name length, n_dims, one dim, type and offset.
    check_count_fits(n_tensors_, 32, "tensor count", tensor_count_at_);
    impl_.tensors.reserve(n_tensors_);
    info_offsets_.reserve(n_tensors_);

    for (uint64_t i = 0; i < n_tensors_; ++i) {
      cursor_.set_context("tensor info " + std::to_string(i) + " of " + std::to_string(n_tensors_));
      const uint64_t name_offset = cursor_.offset();
      GgufTensorInfo info;
      info.name = cursor_.read_string("the tensor name");
      cursor_.set_context("tensor '" + info.name + "'");

      InfoOffsets offsets{};
      offsets.dims = cursor_.offset();
      info.shape = read_shape();
      info.type = read_tensor_type(info.name);
      offsets.offset = cursor_.offset();
      info.offset = cursor_.read<uint64_t>("the tensor data offset");

      if (!impl_.tensor_index.emplace(info.name, impl_.tensors.size()).second) {
        cursor_.fail(name_offset, "duplicate tensor name", kCorruptAdvice);
      }
      impl_.tensors.push_back(std::move(info));
      info_offsets_.push_back(offsets);
    }
  }

  // The data section starts at the first multiple of the alignment after the tensor infos.
  void locate_data_section() {
    cursor_.set_context("tensor data section");
    const uint64_t end_of_infos = cursor_.offset();
    const uint64_t padding = (impl_.alignment - end_of_infos % impl_.alignment) % impl_.alignment;
    if (padding > std::numeric_limits<uint64_t>::max() - end_of_infos) {
      cursor_.fail(end_of_infos, "the aligned start of the tensor data overflows", kCorruptAdvice);
    }
    impl_.data_offset = end_of_infos + padding;

    const uint64_t file_size = impl_.mapping->size();
    if (impl_.data_offset > file_size && !impl_.tensors.empty()) {
      cursor_.fail_truncated(end_of_infos, "the padding before the tensor data", padding);
    }
    data_size_ = impl_.data_offset <= file_size ? file_size - impl_.data_offset : 0;
  }

  void validate_tensors() {
    for (size_t i = 0; i < impl_.tensors.size(); ++i) {
      GgufTensorInfo& info = impl_.tensors[i];
      cursor_.set_context("tensor '" + info.name + "'");
      info.size = compute_size(info, info_offsets_[i].dims);
      check_placement(info, info_offsets_[i].offset);
      info.data = impl_.mapping->data() + impl_.data_offset + info.offset;
    }
  }

  // Rejects a header count whose entries cannot fit in the rest of the file, so a corrupt count
  // is reported as such instead of as an error in whatever bytes follow.
  void check_count_fits(uint64_t count, uint64_t min_bytes_each, const char* count_name,
                        uint64_t count_at) {
    if (count > cursor_.remaining() / min_bytes_each) {
      cursor_.set_context("header");
      cursor_.fail(count_at,
                   std::string("the ") + count_name + " " + std::to_string(count) +
                       " needs at least " + std::to_string(min_bytes_each) +
                       " bytes per entry, but only " +
                       std::to_string(cursor_.remaining()) +
                       " bytes remain; the file is truncated or corrupt",
                   kTruncatedAdvice);
    }
  }

  GgufType read_value_type() {
    const uint64_t at = cursor_.offset();
    const uint32_t id = cursor_.read<uint32_t>("the value type");
    if (id > kLastValueType) {
      cursor_.fail(at,
                   "unknown metadata value type " + std::to_string(id) +
                       "; valid types are 0 (UINT8) to 12 (FLOAT64)",
                   kCorruptAdvice);
    }
    return static_cast<GgufType>(id);
  }

  GgufValue read_value(GgufType type, int depth) {
    GgufValue value;
    value.type = type;
    switch (type) {
      case GgufType::UINT8: value.integer = cursor_.read<uint8_t>("a UINT8 value"); break;
      case GgufType::INT8: value.integer = cursor_.read<int8_t>("an INT8 value"); break;
      case GgufType::UINT16: value.integer = cursor_.read<uint16_t>("a UINT16 value"); break;
      case GgufType::INT16: value.integer = cursor_.read<int16_t>("an INT16 value"); break;
      case GgufType::UINT32: value.integer = cursor_.read<uint32_t>("a UINT32 value"); break;
      case GgufType::INT32: value.integer = cursor_.read<int32_t>("an INT32 value"); break;
      case GgufType::INT64: value.integer = cursor_.read<int64_t>("an INT64 value"); break;
      case GgufType::UINT64: value.integer = read_uint64_value(); break;
      case GgufType::FLOAT32: value.real = cursor_.read<float>("a FLOAT32 value"); break;
      case GgufType::FLOAT64: value.real = cursor_.read<double>("a FLOAT64 value"); break;
      case GgufType::BOOL: value.boolean = read_bool_value(); break;
      case GgufType::STRING: value.string = cursor_.read_string("a string value"); break;
      case GgufType::ARRAY: read_array(value, depth); break;
    }
    return value;
  }

  int64_t read_uint64_value() {
    const uint64_t at = cursor_.offset();
    const uint64_t value = cursor_.read<uint64_t>("a UINT64 value");
    if (value > uint64_t(std::numeric_limits<int64_t>::max())) {
      cursor_.fail(at,
                   "UINT64 value " + std::to_string(value) +
                       " is above INT64_MAX, the largest integer this reader stores",
                   kCorruptAdvice);
    }
    return int64_t(value);
  }

  bool read_bool_value() {
    const uint64_t at = cursor_.offset();
    const uint8_t byte = cursor_.read<uint8_t>("a BOOL value");
    if (byte > 1) {
      cursor_.fail(at, "invalid BOOL value " + std::to_string(byte) + " (expected 0 or 1)",
                   kCorruptAdvice);
    }
    return byte == 1;
  }

  void read_array(GgufValue& value, int depth) {
    const uint64_t at = cursor_.offset();
    if (depth >= kMaxArrayDepth) {
      cursor_.fail(at,
                   "arrays are nested more than " + std::to_string(kMaxArrayDepth) + " levels deep",
                   kCorruptAdvice);
    }
    value.array_type = read_value_type();
    const uint64_t count = cursor_.read<uint64_t>("the array length");

    // Check the count against the bytes left before reserving, so a corrupt count fails here
    // instead of exhausting memory.
    const uint64_t min_bytes = min_encoded_bytes(value.array_type);
    if (count > cursor_.remaining() / min_bytes) {
      cursor_.fail(at,
                   "the file is truncated: an array of " + std::to_string(count) + " " +
                       gguf_type_name(value.array_type) + " values needs at least " +
                       std::to_string(count) + " x " + std::to_string(min_bytes) +
                       " bytes but only " + std::to_string(cursor_.remaining()) + " remain",
                   kTruncatedAdvice);
    }
    value.array.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      value.array.push_back(read_value(value.array_type, depth + 1));
    }
  }

  void set_alignment(const GgufValue& value, uint64_t at) {
    if (!is_integer_type(value.type)) {
      cursor_.fail(at,
                   std::string("general.alignment has type ") + describe_type(value) +
                       ", expected an integer (UINT32)",
                   kCorruptAdvice);
    }
    if (value.integer <= 0 || !std::has_single_bit(uint64_t(value.integer))) {
      cursor_.fail(at,
                   "general.alignment is " + std::to_string(value.integer) +
                       ", expected a nonzero power of two",
                   kCorruptAdvice);
    }
    impl_.alignment = uint64_t(value.integer);
  }

  std::vector<int64_t> read_shape() {
    const uint64_t at = cursor_.offset();
    const uint32_t n_dims = cursor_.read<uint32_t>("the dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      cursor_.fail(at,
                   "the tensor has " + std::to_string(n_dims) + " dimensions; expected 1 to " +
                       std::to_string(kMaxDims),
                   kCorruptAdvice);
    }

    std::vector<int64_t> shape(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_at = cursor_.offset();
      const uint64_t ne = cursor_.read<uint64_t>("a tensor dimension");
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max())) {
        cursor_.fail(dim_at,
                     "dimension " + std::to_string(d) + " is " + std::to_string(ne) +
                         "; expected 1 to INT64_MAX",
                     kCorruptAdvice);
      }
      shape[d] = int64_t(ne);
    }
    return shape;
  }

  DType read_tensor_type(const std::string& name) {
    const uint64_t at = cursor_.offset();
    const uint32_t id = cursor_.read<uint32_t>("the tensor type");
    const std::optional<DType> type = dtype_from_id(id);
    if (!type) {
      const char* ggml_name = ggml_type_name(id);
      const std::string known = ggml_name ? std::string(" (") + ggml_name + " in ggml)" : "";
      cursor_.fail(at,
                   "tensor '" + name + "' has type id " + std::to_string(id) + known +
                       ", which this engine does not support; supported types: " +
                       supported_type_list(),
                   "Use a model file quantized to one of the supported types.");
    }
    return *type;
  }

  // Returns the tensor's size in bytes, checking the shape against the block size and overflow.
  uint64_t compute_size(const GgufTensorInfo& info, uint64_t dims_at) {
    int64_t n_elements = 1;
    for (int64_t ne : info.shape) {
      if (__builtin_mul_overflow(n_elements, ne, &n_elements)) {
        cursor_.fail(dims_at, "the element count of the tensor overflows int64", kCorruptAdvice);
      }
    }

    const DTypeTraits& traits = dtype_traits(info.type);
    const int64_t ne0 = info.shape[0];
    if (ne0 % traits.block_size != 0) {
      cursor_.fail(dims_at,
                   "dimension 0 is " + std::to_string(ne0) + ", not a multiple of the " +
                       traits.name + " block size " + std::to_string(traits.block_size),
                   kCorruptAdvice);
    }

    // size = (ne0 / block_size) * block_bytes * (n_elements / ne0)
    const uint64_t rows = uint64_t(n_elements / ne0);
    uint64_t row_size = 0;
    uint64_t size = 0;
    if (__builtin_mul_overflow(uint64_t(ne0 / traits.block_size), uint64_t(traits.block_bytes),
                               &row_size) ||
        __builtin_mul_overflow(row_size, rows, &size)) {
      cursor_.fail(dims_at, "the byte size of the tensor overflows uint64", kCorruptAdvice);
    }
    return size;
  }

  void check_placement(const GgufTensorInfo& info, uint64_t offset_at) {
    if (info.offset % impl_.alignment != 0) {
      cursor_.fail(offset_at,
                   "tensor data offset " + std::to_string(info.offset) +
                       " is not a multiple of the alignment " + std::to_string(impl_.alignment),
                   kCorruptAdvice);
    }
    if (info.offset > data_size_ || info.size > data_size_ - info.offset) {
      cursor_.fail(offset_at,
                   "the tensor data (offset " + std::to_string(info.offset) + ", " +
                       std::to_string(info.size) + " bytes) ends past the tensor data section (" +
                       std::to_string(data_size_) + " bytes from byte offset " +
                       std::to_string(impl_.data_offset) + "); the file is truncated or corrupt",
                   kTruncatedAdvice);
    }
  }

  FileContents& impl_;
  Cursor cursor_;
  uint64_t n_tensors_ = 0;
  uint64_t n_metadata_ = 0;
  uint64_t tensor_count_at_ = 0;
  uint64_t metadata_count_at_ = 0;
  uint64_t data_size_ = 0;
  std::vector<InfoOffsets> info_offsets_;
};

}  // namespace

struct GgufFile::Impl : FileContents {
  bool arrays_released = false;
};

GgufFile GgufFile::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mapping = std::make_unique<MappedFile>(path);
  Parser(*impl).parse();
  return GgufFile(std::move(impl));
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

const std::string& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::file_size() const { return impl_->mapping->size(); }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }

const std::map<std::string, GgufValue>& GgufFile::metadata() const { return impl_->metadata; }

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = impl_->metadata.find(key);
  return it == impl_->metadata.end() ? nullptr : &it->second;
}

namespace {

[[noreturn]] void fail_type(const std::string& path, const std::string& key,
                            const GgufValue& value, const char* expected) {
  throw Error(path + ": metadata key '" + key + "' has type " + describe_type(value) +
              ", expected " + expected +
              ". Check that the file is a model of a supported architecture.");
}

}  // namespace

std::optional<int64_t> GgufFile::find_int(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!is_integer_type(value->type)) fail_type(impl_->path, key, *value, "an integer");
  return value->integer;
}

std::optional<double> GgufFile::find_float(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (is_float_type(value->type)) return value->real;
  if (is_integer_type(value->type)) return double(value->integer);
  fail_type(impl_->path, key, *value, "a number");
}

std::optional<bool> GgufFile::find_bool(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type != GgufType::BOOL) fail_type(impl_->path, key, *value, "BOOL");
  return value->boolean;
}

std::optional<std::string> GgufFile::find_string(const std::string& key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type != GgufType::STRING) fail_type(impl_->path, key, *value, "STRING");
  return value->string;
}

namespace {

const GgufValue& require_key(const GgufFile& file, const std::string& key) {
  const GgufValue* value = file.find(key);
  if (value == nullptr) {
    throw Error(file.path() + ": required metadata key '" + key +
                "' is missing. The file may be for a different model type, or incomplete.");
  }
  return *value;
}

}  // namespace

int64_t GgufFile::get_int(const std::string& key) const {
  require_key(*this, key);
  return *find_int(key);
}

double GgufFile::get_float(const std::string& key) const {
  require_key(*this, key);
  return *find_float(key);
}

std::string GgufFile::get_string(const std::string& key) const {
  require_key(*this, key);
  return *find_string(key);
}

void GgufFile::release_metadata_arrays() {
  for (auto& [key, value] : impl_->metadata) {
    if (value.type == GgufType::ARRAY) std::vector<GgufValue>().swap(value.array);
  }
  impl_->arrays_released = true;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  LIM_CHECK(!impl_->arrays_released);
  const GgufValue& value = require_key(*this, key);
  if (value.type != GgufType::ARRAY || value.array_type != GgufType::STRING) {
    fail_type(impl_->path, key, value, "ARRAY of STRING");
  }
  std::vector<std::string> result;
  result.reserve(value.array.size());
  for (const GgufValue& element : value.array) result.push_back(element.string);
  return result;
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  LIM_CHECK(!impl_->arrays_released);
  const GgufValue& value = require_key(*this, key);
  if (value.type != GgufType::ARRAY || !is_integer_type(value.array_type)) {
    fail_type(impl_->path, key, value, "an ARRAY of integers");
  }
  std::vector<int64_t> result;
  result.reserve(value.array.size());
  for (const GgufValue& element : value.array) result.push_back(element.integer);
  return result;
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  LIM_CHECK(!impl_->arrays_released);
  const GgufValue& value = require_key(*this, key);
  const bool numeric = is_float_type(value.array_type) || is_integer_type(value.array_type);
  if (value.type != GgufType::ARRAY || !numeric) {
    fail_type(impl_->path, key, value, "an ARRAY of numbers");
  }
  std::vector<double> result;
  result.reserve(value.array.size());
  for (const GgufValue& element : value.array) {
    result.push_back(is_float_type(element.type) ? element.real : double(element.integer));
  }
  return result;
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  const auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* info = find_tensor(name);
  if (info == nullptr) {
    throw Error(impl_->path + ": tensor '" + name + "' not found among the file's " +
                std::to_string(impl_->tensors.size()) +
                " tensors. The file may be for a different model type, or incomplete.");
  }
  return *info;
}

}  // namespace lim
