// The safetensors reader on small files written here: dtypes, shapes, sharded checkpoints, and
// the errors for files that are truncated, inconsistent or of an unsupported dtype.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes the header as the reference writer does: JSON padded with spaces to a multiple of 8.
std::string header_json(const std::vector<Entry>& entries) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  uint64_t offset = 0;
  for (const Entry& e : entries) {
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  return text;
}

void write_file(const std::string& path, const std::string& header, const std::vector<Entry>& entries) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  for (const Entry& e : entries) out.write(reinterpret_cast<const char*>(e.bytes.data()), static_cast<std::streamsize>(e.bytes.size()));
}

void write_file(const std::string& path, const std::vector<Entry>& entries) {
  write_file(path, header_json(entries), entries);
}

Entry f32_entry(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  Entry e{name, "F32", std::move(shape), std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
  return e;
}

Entry bf16_entry(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  Entry e{name, "BF16", std::move(shape), std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = fp32_to_bf16(values[i]);
    std::memcpy(e.bytes.data() + 2 * i, &bits, 2);
  }
  return e;
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsCheckpoint::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_path("lim-safetensors");
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string dir_;
};

TEST_F(SafetensorsTest, ReadsDtypesAndShapes) {
  write_file(file("model.safetensors"), {f32_entry("a", {2, 3}, {1, 2, 3, 4, 5, 6}), bf16_entry("b", {4}, {0.5f, -1, 2, 3})});
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir_);
  ASSERT_EQ(ckpt.tensors().size(), 2u);
  const SafetensorsTensor& a = ckpt.tensor("a");
  EXPECT_EQ(a.type, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const float*>(a.data)[5], 6.0f);
  const SafetensorsTensor& b = ckpt.tensor("b");
  EXPECT_EQ(b.type, DType::BF16);
  std::vector<float> values(4);
  dequantize_row(b.type, b.data, values.data(), 4);
  EXPECT_EQ(values, (std::vector<float>{0.5f, -1, 2, 3}));
  EXPECT_EQ(ckpt.find("missing"), nullptr);
  try {
    ckpt.tensor("missing");
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsTest, OpensAFileDirectly) {
  write_file(file("weights.safetensors"), {f32_entry("x", {1}, {7})});
  EXPECT_EQ(SafetensorsCheckpoint::open(file("weights.safetensors")).tensors().size(), 1u);
}

TEST_F(SafetensorsTest, ReadsShardsThroughTheIndex) {
  write_file(file("model-00001-of-00002.safetensors"), {f32_entry("a", {2}, {1, 2})});
  write_file(file("model-00002-of-00002.safetensors"), {f32_entry("b", {1}, {3})});
  nlohmann::json index = {{"metadata", {{"total_size", 12}}},
                          {"weight_map", {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(file("model.safetensors.index.json")) << index.dump();
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir_);
  EXPECT_EQ(static_cast<const float*>(ckpt.tensor("b").data)[0], 3.0f);
  EXPECT_NE(ckpt.tensor("a").file.find("00001"), std::string::npos);
}

TEST_F(SafetensorsTest, IndexEntryMissingFromItsShardIsNamed) {
  write_file(file("s1.safetensors"), {f32_entry("a", {1}, {1})});
  std::ofstream(file("model.safetensors.index.json")) << R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})";
  const std::string message = error_of(dir_);
  EXPECT_NE(message.find("tensor b"), std::string::npos) << message;
  EXPECT_NE(message.find("s1.safetensors"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, IndexMayNotLeaveTheDirectory) {
  std::ofstream(file("model.safetensors.index.json")) << R"({"weight_map": {"a": "../x.safetensors"}})";
  EXPECT_NE(error_of(dir_).find("../x.safetensors"), std::string::npos);
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsNamed) {
  Entry e{"q", "I8", {4}, std::vector<uint8_t>(4)};
  write_file(file("model.safetensors"), {e});
  const std::string message = error_of(dir_);
  EXPECT_NE(message.find("tensor q"), std::string::npos) << message;
  EXPECT_NE(message.find("I8"), std::string::npos) << message;
  EXPECT_NE(message.find("BF16"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, SizeMustMatchShape) {
  Entry e = f32_entry("w", {2, 2}, {1, 2, 3, 4});
  write_file(file("model.safetensors"), header_json({Entry{"w", "F32", {2, 3}, e.bytes}}), {e});
  const std::string message = error_of(dir_);
  EXPECT_NE(message.find("tensor w"), std::string::npos) << message;
  EXPECT_NE(message.find("24"), std::string::npos) << message;  // bytes the shape needs
}

TEST_F(SafetensorsTest, DataOutsideTheFileIsRejected) {
  Entry e = f32_entry("w", {4}, {1, 2, 3, 4});
  std::vector<Entry> declared = {e};
  write_file(file("model.safetensors"), header_json(declared), {});  // data section left out
  const std::string message = error_of(dir_);
  EXPECT_NE(message.find("outside the data section"), std::string::npos) << message;
  EXPECT_NE(message.find(file("model.safetensors")), std::string::npos) << message;
}

TEST_F(SafetensorsTest, TruncatedHeaderIsRejected) {
  std::ofstream(file("model.safetensors"), std::ios::binary) << std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10);
  EXPECT_NE(error_of(dir_).find("does not fit"), std::string::npos);
  std::ofstream(file("short.safetensors"), std::ios::binary) << "abc";
  EXPECT_NE(error_of(file("short.safetensors")).find("too short"), std::string::npos);
}

TEST_F(SafetensorsTest, MalformedHeaderIsRejected) {
  write_file(file("model.safetensors"), "{\"w\": [1, 2]}   ", {});
  EXPECT_NE(error_of(dir_).find("tensor w"), std::string::npos);
  write_file(file("model.safetensors"), "not json", {});
  EXPECT_NE(error_of(dir_).find("not valid JSON"), std::string::npos);
}

TEST_F(SafetensorsTest, MisalignedDataIsRejected) {
  Entry pad{"pad", "BF16", {1}, std::vector<uint8_t>(2)};
  write_file(file("model.safetensors"), {pad, f32_entry("w", {1}, {1})});
  EXPECT_NE(error_of(dir_).find("not aligned"), std::string::npos);
}

TEST_F(SafetensorsTest, DirectoryWithoutWeightsIsNamed) {
  EXPECT_NE(error_of(dir_).find("model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace lim
