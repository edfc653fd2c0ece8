// Memory-mapped reader for GGUF version 3 files (the llama.cpp model format).
//
// Layout (little-endian): magic "GGUF", uint32 version, uint64 tensor count, uint64 metadata
// count, the metadata key/value pairs, the tensor infos, padding to `general.alignment`
// (default 32), then the tensor data. Every offset and size is checked against the file size
// when the file is opened, so later reads through TensorInfo::data cannot run past the mapping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "ops/quant.h"

namespace lim {

// The only format version this reader accepts, and the alignment of tensor data when the file
// has no `general.alignment` key.
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint64_t kGgufDefaultAlignment = 32;

enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

const char* gguf_type_name(GgufType type);

// One metadata value. Integers of every width are stored in `integer` (UINT64 values above
// INT64_MAX are rejected at load), floats in `real`; arrays keep their element type and values.
struct GgufValue {
  GgufType type = GgufType::UINT32;
  int64_t integer = 0;
  double real = 0.0;
  bool boolean = false;
  std::string string;
  GgufType array_type = GgufType::UINT32;  // element type when type == ARRAY
  std::vector<GgufValue> array;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the innermost (contiguous) dimension
  DType type = DType::F32;
  uint64_t offset = 0;         // from the start of the tensor data section
  uint64_t size = 0;           // bytes
  const void* data = nullptr;  // into the mapping; valid while the GgufFile lives

  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Maps and validates the file. Throws lim::Error naming the file, and where it applies the
  // key, tensor and byte offset, for a missing file, bad magic, unsupported version, truncation,
  // an unknown value or tensor type, or a tensor whose data lies outside the file.
  static GgufFile open(const std::string& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const;
  uint32_t version() const;
  uint64_t alignment() const;
  uint64_t file_size() const;
  // Byte offset of the tensor data section from the start of the file (a multiple of alignment).
  uint64_t data_offset() const;

  const std::map<std::string, GgufValue>& metadata() const;
  const GgufValue* find(const std::string& key) const;

  // Typed lookups. find_* returns nothing when the key is absent; get_* throws lim::Error naming
  // the file and key when it is absent. Both throw when the stored type does not fit (for
  // example a string where an integer is expected). Integer lookups accept every integer type.
  std::optional<int64_t> find_int(const std::string& key) const;
  std::optional<double> find_float(const std::string& key) const;  // also accepts integers
  std::optional<bool> find_bool(const std::string& key) const;
  std::optional<std::string> find_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;

  // Frees the elements of every metadata array, keeping the keys. A tokenizer's vocabulary and
  // merges take about 14 MB as parsed values, which a loaded model does not need once its
  // tokenizer is built. Reading an array afterwards is a bug, and aborts with an internal error.
  void release_metadata_arrays();

  const std::vector<GgufTensorInfo>& tensors() const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Throws lim::Error naming the file and the tensor when it is absent.
  const GgufTensorInfo& tensor(const std::string& name) const;

 private:
  struct Impl;
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lim
