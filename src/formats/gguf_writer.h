// Writer for GGUF version 3 files, the counterpart of GgufFile. Tests and tools use it to write
// models with chosen metadata and weights; GgufFile reads back everything it writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"
#include "ops/quant.h"

namespace lim {

// Metadata value constructors. gguf_int throws lim::Error when the value does not fit the
// integer type; gguf_float takes FLOAT32 or FLOAT64.
GgufValue gguf_int(GgufType type, int64_t value);
GgufValue gguf_float(GgufType type, double value);
GgufValue gguf_bool(bool value);
GgufValue gguf_string(std::string value);
// Every element's type must equal element_type, which may itself be ARRAY.
GgufValue gguf_array(GgufType element_type, std::vector<GgufValue> elements);
GgufValue gguf_string_array(const std::vector<std::string>& values);
GgufValue gguf_int_array(GgufType element_type, const std::vector<int64_t>& values);
GgufValue gguf_float_array(GgufType element_type, const std::vector<double>& values);

class GgufWriter {
 public:
  // alignment: of the tensor data section and of each tensor in it; a nonzero power of two.
  // Written as general.alignment (UINT32) when it differs from kGgufDefaultAlignment.
  explicit GgufWriter(uint64_t alignment = kGgufDefaultAlignment);

  // Adds a metadata entry; entries are written in the order added. Throws lim::Error for a
  // duplicate key, for "general.alignment" (pass it to the constructor instead) and for a value
  // whose fields do not match its type (an integer out of range, array elements of another type).
  void set(const std::string& key, GgufValue value);
  void set_uint32(const std::string& key, uint32_t value);
  void set_int32(const std::string& key, int32_t value);
  void set_float32(const std::string& key, float value);
  void set_bool(const std::string& key, bool value);
  void set_string(const std::string& key, std::string value);

  // Adds a tensor, copying its `bytes` bytes of stored data. shape is in ggml order (shape[0]
  // is contiguous) with 1 to 4 dimensions. Throws lim::Error for a duplicate name, an invalid
  // shape, or a byte count other than the size the type and shape need.
  void add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                  const void* data, size_t bytes);

  // Returns the complete file contents.
  std::vector<uint8_t> serialize() const;
  // Writes serialize() to path, replacing any existing file. Throws lim::Error naming the path.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };

  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::set<std::string> keys_;
  std::vector<Tensor> tensors_;
  std::set<std::string> tensor_names_;
};

}  // namespace lim
