// A read-only memory mapping of a whole file, unmapped on destruction. Model readers (GGUF,
// safetensors) point into it instead of copying weights.
#pragma once

#include <cstdint>
#include <string>

namespace lim {

class MappedFile {
 public:
  // Throws lim::Error naming the path when the file is missing, unreadable, not a regular file,
  // or cannot be mapped. An empty file is left unmapped: data() is null and size() is 0.
  explicit MappedFile(const std::string& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return static_cast<const uint8_t*>(address_); }
  uint64_t size() const { return size_; }

 private:
  void* address_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace lim
