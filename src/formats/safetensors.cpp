#include "formats/safetensors.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common.h"
#include "formats/mapped_file.h"

namespace lim {

namespace fs = std::filesystem;

namespace {

// Headers larger than this are rejected, as the safetensors library rejects headers over
// 100,000,000 bytes.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

DType parse_dtype(const std::string& file, const std::string& tensor, const std::string& dtype) {
  if (dtype == "F32") return DType::F32;
  if (dtype == "F16") return DType::F16;
  if (dtype == "BF16") return DType::BF16;
  throw Error(file + ": tensor " + tensor + " has dtype " + dtype +
              ", which is not supported; supported: F32, F16, BF16. Quantized checkpoints "
              "(GPTQ, AWQ, FP8) must be converted first, for example to GGUF.");
}

// Parses one entry of a header and checks it against the data section [0, data_size).
SafetensorsTensor parse_entry(const std::string& file, const std::string& name, const nlohmann::json& entry,
                              const uint8_t* data, uint64_t data_size) {
  auto fail = [&](const std::string& what) -> Error {
    return Error(file + ": tensor " + name + ": " + what + "; the file is corrupt or not a safetensors file.");
  };
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
    throw fail("the header entry lacks dtype, shape or data_offsets");
  }
  if (!entry["dtype"].is_string()) throw fail("dtype is not a string");
  SafetensorsTensor t;
  t.name = name;
  t.file = file;
  t.type = parse_dtype(file, name, entry["dtype"].get<std::string>());

  const nlohmann::json& shape = entry["shape"];
  if (!shape.is_array()) throw fail("shape is not an array");
  uint64_t n_elements = 1;
  for (const auto& dim : shape) {
    if (!dim.is_number_unsigned()) throw fail("shape has an entry that is not a non-negative integer");
    const uint64_t d = dim.get<uint64_t>();
    if (d > 0 && n_elements > std::numeric_limits<uint64_t>::max() / 8 / d) throw fail("shape is too large");
    n_elements *= d;
    t.shape.push_back(static_cast<int64_t>(d));
  }

  const nlohmann::json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw fail("data_offsets is not a pair of non-negative integers");
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    throw fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
               ") lie outside the data section of " + std::to_string(data_size) + " bytes");
  }
  t.size = end - begin;
  const uint64_t expected = n_elements * static_cast<uint64_t>(dtype_traits(t.type).block_bytes);
  if (t.size != expected) {
    throw fail("has " + std::to_string(t.size) + " bytes of data but its shape and dtype need " + std::to_string(expected));
  }
  t.data = data + begin;
  // The kernels read elements through typed pointers. Writers align the data section to 8 bytes
  // and every tensor to its element size; a file that does not is rejected rather than copied.
  if (reinterpret_cast<uintptr_t>(t.data) % static_cast<uintptr_t>(dtype_traits(t.type).block_bytes) != 0) {
    throw fail("its data at offset " + std::to_string(begin) + " is not aligned to its element size");
  }
  return t;
}

}  // namespace

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct SafetensorsCheckpoint::Impl {
  std::string path;
  std::vector<std::unique_ptr<MappedFile>> files;
  std::map<std::string, SafetensorsTensor> tensors;

  // Maps one shard and adds its tensors. Returns the names of the tensors it contains.
  std::vector<std::string> add_file(const std::string& file) {
    files.push_back(std::make_unique<MappedFile>(file));
    const MappedFile& m = *files.back();
    if (m.size() < 8) throw Error(file + ": the file is " + std::to_string(m.size()) + " bytes, too short for a safetensors header.");
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | m.data()[i];
    if (header_size > kMaxHeaderBytes || header_size > m.size() - 8) {
      throw Error(file + ": the header length " + std::to_string(header_size) + " does not fit in the file of " +
                  std::to_string(m.size()) + " bytes; the file is truncated or not a safetensors file.");
    }
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(m.data() + 8, m.data() + 8 + header_size);
    } catch (const nlohmann::json::exception& e) {
      throw Error(file + ": the header is not valid JSON: " + e.what());
    }
    if (!header.is_object()) throw Error(file + ": the header is not a JSON object.");

    const uint8_t* data = m.data() + 8 + header_size;
    const uint64_t data_size = m.size() - 8 - header_size;
    std::vector<std::string> names;
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") continue;
      if (const auto it = tensors.find(name); it != tensors.end()) {
        throw Error(file + ": tensor " + name + " is also in " + it->second.file + "; the checkpoint is inconsistent.");
      }
      tensors.emplace(name, parse_entry(file, name, entry, data, data_size));
      names.push_back(name);
    }
    return names;
  }

  // Opens every shard that model.safetensors.index.json names and checks that each tensor of
  // its weight_map is in the shard it names.
  void add_index(const fs::path& index_path) {
    const std::string index = index_path.string();
    std::ifstream in(index_path);
    if (!in) throw Error(index + ": failed to open: " + std::strerror(errno) + ".");
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(index + ": not valid JSON: " + e.what());
    }
    if (!json.contains("weight_map") || !json["weight_map"].is_object()) {
      throw Error(index + ": weight_map is missing or not an object.");
    }
    std::map<std::string, std::vector<std::string>> by_shard;
    for (const auto& [name, shard] : json["weight_map"].items()) {
      if (!shard.is_string()) throw Error(index + ": weight_map entry " + name + " is not a file name.");
      const std::string file = shard.get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        throw Error(index + ": weight_map entry " + name + " names \"" + file +
                    "\", which is not a file name in the checkpoint directory.");
      }
      by_shard[file].push_back(name);
    }
    for (const auto& [shard, names] : by_shard) {
      const std::string file = (index_path.parent_path() / shard).string();
      add_file(file);
      for (const std::string& name : names) {
        const auto it = tensors.find(name);
        if (it == tensors.end() || it->second.file != file) {
          throw Error(index + ": weight_map puts tensor " + name + " in " + shard + ", which does not contain it.");
        }
      }
    }
  }
};

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json")) {
      impl->add_index(p / "model.safetensors.index.json");
    } else if (fs::exists(p / "model.safetensors")) {
      impl->add_file((p / "model.safetensors").string());
    } else {
      throw Error(path + ": the directory has neither model.safetensors nor model.safetensors.index.json.");
    }
  } else {
    impl->add_file(path);
  }
  return SafetensorsCheckpoint(std::move(impl));
}

SafetensorsCheckpoint::SafetensorsCheckpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsCheckpoint::SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
SafetensorsCheckpoint& SafetensorsCheckpoint::operator=(SafetensorsCheckpoint&&) noexcept = default;
SafetensorsCheckpoint::~SafetensorsCheckpoint() = default;

const std::string& SafetensorsCheckpoint::path() const { return impl_->path; }
const std::map<std::string, SafetensorsTensor>& SafetensorsCheckpoint::tensors() const { return impl_->tensors; }

const SafetensorsTensor* SafetensorsCheckpoint::find(const std::string& name) const {
  const auto it = impl_->tensors.find(name);
  return it == impl_->tensors.end() ? nullptr : &it->second;
}

const SafetensorsTensor& SafetensorsCheckpoint::tensor(const std::string& name) const {
  if (const SafetensorsTensor* t = find(name)) return *t;
  throw Error(impl_->path + ": tensor " + name + " is missing; the checkpoint is incomplete or of another architecture.");
}

}  // namespace lim
