// Memory-mapped reader for Hugging Face safetensors checkpoints, single-file or sharded.
//
// A .safetensors file is a little-endian uint64 header length N, N bytes of JSON mapping each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the end of
// the header), then the data. A sharded checkpoint adds model.safetensors.index.json, whose
// "weight_map" names the file that contains each tensor. Every offset, size and shape is checked
// when the checkpoint opens, so reads through SafetensorsTensor::data stay inside the mapping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/quant.h"

namespace lim {

struct SafetensorsTensor {
  std::string name;
  std::string file;            // path of the shard that contains it, for messages
  DType type = DType::F32;     // F32, F16 or BF16
  std::vector<int64_t> shape;  // outermost first, as PyTorch writes it (rows, then columns)
  const void* data = nullptr;  // into the mapping; valid while the SafetensorsCheckpoint lives
  uint64_t size = 0;           // bytes

  int64_t n_elements() const;
};

class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file or a directory holding model.safetensors.index.json or
  // model.safetensors. Throws lim::Error naming the file, and where it applies the tensor, for a
  // missing file, a truncated or malformed header, an unsupported dtype, data outside the file,
  // a size that disagrees with the shape, a tensor listed in two shards, or an index entry that
  // its shard lacks.
  static SafetensorsCheckpoint open(const std::string& path);

  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept;
  ~SafetensorsCheckpoint();

  const std::string& path() const;  // as given to open()
  const std::map<std::string, SafetensorsTensor>& tensors() const;
  const SafetensorsTensor* find(const std::string& name) const;
  // Throws lim::Error naming the checkpoint and the tensor when it is absent.
  const SafetensorsTensor& tensor(const std::string& name) const;

 private:
  struct Impl;
  explicit SafetensorsCheckpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lim
