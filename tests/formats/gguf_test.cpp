#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "formats/gguf_writer.h"
#include "ops/quant.h"

namespace lim {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "lim_gguf_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write_file(const std::string& name, const Bytes& bytes) const {
    const std::string file = path(name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    EXPECT_TRUE(out.good()) << file;
    return file;
  }

  fs::path dir_;
};

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes bytes(n);
  for (uint8_t& b : bytes) b = uint8_t(rng());
  return bytes;
}

// Returns the message of the lim::Error that `fn` throws, or fails the test if it throws none.
std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected lim::Error";
  return "";
}

std::string open_error(const std::string& file) {
  return error_message([&] { GgufFile::open(file); });
}

// Returns the offset just past the length-prefixed string `s` in a serialized file. A key's
// value type and a tensor info's n_dims start there.
size_t offset_after_string(const Bytes& bytes, const std::string& s) {
  Bytes encoded(8 + s.size());
  const uint64_t length = s.size();
  std::memcpy(encoded.data(), &length, 8);
  std::memcpy(encoded.data() + 8, s.data(), s.size());
  const auto it = std::search(bytes.begin(), bytes.end(), encoded.begin(), encoded.end());
  EXPECT_NE(it, bytes.end()) << "string '" << s << "' not found in the serialized file";
  return size_t(it - bytes.begin()) + encoded.size();
}

template <class T>
void patch(Bytes& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <class T>
T read_at(const Bytes& bytes, size_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Offsets of the fields of a tensor info, found by the tensor's name.
struct TensorInfoOffsets {
  size_t n_dims;
  size_t dims;
  size_t type;
  size_t offset;
};

TensorInfoOffsets tensor_info_offsets(const Bytes& bytes, const std::string& name) {
  TensorInfoOffsets at{};
  at.n_dims = offset_after_string(bytes, name);
  at.dims = at.n_dims + 4;
  at.type = at.dims + 8 * read_at<uint32_t>(bytes, at.n_dims);
  at.offset = at.type + 4;
  return at;
}

// A small file with a few keys, an array and two tensors, for the corruption tests.
GgufWriter small_writer() {
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  writer.set_uint32("llama.block_count", 2);
  writer.set("test.array", gguf_int_array(GgufType::INT32, {1, -2, 3, -4, 5}));
  const Bytes weights = random_bytes(row_bytes(DType::Q4_1, 64) * 2, 1);
  writer.add_tensor("weights", DType::Q4_1, {64, 2}, weights.data(), weights.size());
  const Bytes norm = random_bytes(4 * 8, 2);
  writer.add_tensor("norm", DType::F32, {8}, norm.data(), norm.size());
  return writer;
}

TEST_F(GgufTest, RoundTripsEveryMetadataType) {
  GgufWriter writer;
  writer.set("u8", gguf_int(GgufType::UINT8, 255));
  writer.set("i8", gguf_int(GgufType::INT8, -128));
  writer.set("u16", gguf_int(GgufType::UINT16, 65535));
  writer.set("i16", gguf_int(GgufType::INT16, -32768));
  writer.set("u32", gguf_int(GgufType::UINT32, 4294967295));
  writer.set("i32", gguf_int(GgufType::INT32, std::numeric_limits<int32_t>::min()));
  writer.set("u64", gguf_int(GgufType::UINT64, std::numeric_limits<int64_t>::max()));
  writer.set("i64", gguf_int(GgufType::INT64, std::numeric_limits<int64_t>::min()));
  writer.set("f32", gguf_float(GgufType::FLOAT32, 1.5));
  writer.set("f64", gguf_float(GgufType::FLOAT64, std::numbers::pi));
  writer.set("yes", gguf_bool(true));
  writer.set("no", gguf_bool(false));
  writer.set("text", gguf_string("héllo wörld"));
  writer.set("empty", gguf_string(""));
  writer.set("with.nul", gguf_string(std::string("a\0b", 3)));
  writer.set("bytes", gguf_int_array(GgufType::UINT8, {0, 1, 255}));
  writer.set("tokens", gguf_string_array({"<s>", "", "▁the"}));
  writer.set("scores", gguf_float_array(GgufType::FLOAT32, {-1.0, 0.25, 1e10}));
  writer.set("doubles", gguf_float_array(GgufType::FLOAT64, {std::numbers::e}));
  writer.set("flags", gguf_array(GgufType::BOOL, {gguf_bool(true), gguf_bool(false)}));
  writer.set("none", gguf_array(GgufType::UINT32, {}));
  writer.set("nested", gguf_array(GgufType::ARRAY, {gguf_int_array(GgufType::INT16, {1, 2}),
                                                    gguf_int_array(GgufType::INT16, {})}));
  const std::string file = path("metadata.gguf");
  writer.write(file);

  const GgufFile gguf = GgufFile::open(file);
  EXPECT_EQ(gguf.version(), 3u);
  EXPECT_EQ(gguf.path(), file);
  EXPECT_EQ(gguf.metadata().size(), 22u);
  EXPECT_TRUE(gguf.tensors().empty());

  EXPECT_EQ(gguf.get_int("u8"), 255);
  EXPECT_EQ(gguf.get_int("i8"), -128);
  EXPECT_EQ(gguf.get_int("u16"), 65535);
  EXPECT_EQ(gguf.get_int("i16"), -32768);
  EXPECT_EQ(gguf.get_int("u32"), 4294967295);
  EXPECT_EQ(gguf.get_int("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(gguf.get_int("u64"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(gguf.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(gguf.get_float("f32"), 1.5);
  EXPECT_EQ(gguf.get_float("f64"), std::numbers::pi);
  EXPECT_EQ(gguf.find_bool("yes"), true);
  EXPECT_EQ(gguf.find_bool("no"), false);
  EXPECT_EQ(gguf.get_string("text"), "héllo wörld");
  EXPECT_EQ(gguf.get_string("empty"), "");
  EXPECT_EQ(gguf.get_string("with.nul"), std::string("a\0b", 3));

  EXPECT_EQ(gguf.get_int_array("bytes"), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(gguf.get_string_array("tokens"), (std::vector<std::string>{"<s>", "", "▁the"}));
  EXPECT_EQ(gguf.get_float_array("scores"), (std::vector<double>{-1.0, 0.25, 1e10}));
  EXPECT_EQ(gguf.get_float_array("doubles"), (std::vector<double>{std::numbers::e}));
  EXPECT_TRUE(gguf.get_int_array("none").empty());

  const GgufValue* flags = gguf.find("flags");
  ASSERT_NE(flags, nullptr);
  EXPECT_EQ(flags->type, GgufType::ARRAY);
  EXPECT_EQ(flags->array_type, GgufType::BOOL);
  ASSERT_EQ(flags->array.size(), 2u);
  EXPECT_TRUE(flags->array[0].boolean);
  EXPECT_FALSE(flags->array[1].boolean);

  const GgufValue* nested = gguf.find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->array_type, GgufType::ARRAY);
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].array_type, GgufType::INT16);
  ASSERT_EQ(nested->array[0].array.size(), 2u);
  EXPECT_EQ(nested->array[0].array[0].integer, 1);
  EXPECT_EQ(nested->array[0].array[1].integer, 2);
  EXPECT_TRUE(nested->array[1].array.empty());
}

TEST_F(GgufTest, RoundTripsTensorsWithCustomAlignment) {
  struct Case {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases = {
      {"f32", DType::F32, {3, 2}},           {"f16", DType::F16, {5}},
      {"bf16", DType::BF16, {7, 1, 3}},      {"q4_0", DType::Q4_0, {64, 3}},
      {"q4_1", DType::Q4_1, {32, 2}},        {"q8_0", DType::Q8_0, {96}},
      {"q4_k", DType::Q4_K, {256, 1, 1, 2}}, {"q6_k", DType::Q6_K, {512, 2}},
  };
  for (uint64_t alignment : {uint64_t(32), uint64_t(64), uint64_t(4096)}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    GgufWriter writer(alignment);
    writer.set_string("general.name", "tensors");
    std::vector<Bytes> data;
    for (size_t i = 0; i < cases.size(); ++i) {
      int64_t rows = 1;
      for (size_t d = 1; d < cases[i].shape.size(); ++d) rows *= cases[i].shape[d];
      data.push_back(random_bytes(row_bytes(cases[i].type, cases[i].shape[0]) * rows, 10 + i));
      writer.add_tensor(cases[i].name, cases[i].type, cases[i].shape, data[i].data(),
                        data[i].size());
    }
    const std::string file = path("tensors.gguf");
    writer.write(file);

    const GgufFile gguf = GgufFile::open(file);
    EXPECT_EQ(gguf.alignment(), alignment);
    EXPECT_EQ(gguf.data_offset() % alignment, 0u);
    EXPECT_EQ(gguf.find_int("general.alignment").has_value(), alignment != 32);
    ASSERT_EQ(gguf.tensors().size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(cases[i].name);
      const GgufTensorInfo& info = gguf.tensors()[i];
      EXPECT_EQ(info.name, cases[i].name);
      EXPECT_EQ(&gguf.tensor(cases[i].name), &info);
      EXPECT_EQ(info.type, cases[i].type);
      EXPECT_EQ(info.shape, cases[i].shape);
      EXPECT_EQ(info.size, data[i].size());
      EXPECT_EQ(info.offset % alignment, 0u);
      ASSERT_NE(info.data, nullptr);
      EXPECT_EQ(std::memcmp(info.data, data[i].data(), data[i].size()), 0);
    }
    EXPECT_EQ(gguf.tensor("q4_k").n_elements(), 512);
  }
}

TEST_F(GgufTest, MovedFileKeepsTensorData) {
  const std::string file = path("move.gguf");
  small_writer().write(file);
  GgufFile first = GgufFile::open(file);
  const void* data = first.tensor("norm").data;

  GgufFile second = std::move(first);
  EXPECT_EQ(second.tensor("norm").data, data);
  GgufFile third = GgufFile::open(file);
  third = std::move(second);
  EXPECT_EQ(third.tensor("norm").data, data);
  EXPECT_EQ(std::memcmp(third.tensor("norm").data, random_bytes(32, 2).data(), 32), 0);
}

TEST_F(GgufTest, TypedLookups) {
  GgufWriter writer;
  writer.set("small", gguf_int(GgufType::UINT8, 7));
  writer.set("ratio", gguf_float(GgufType::FLOAT32, 0.5));
  writer.set("name", gguf_string("x"));
  writer.set("ids", gguf_int_array(GgufType::INT32, {4, 5}));
  const std::string file = path("lookups.gguf");
  writer.write(file);
  const GgufFile gguf = GgufFile::open(file);

  EXPECT_EQ(gguf.find_int("small"), 7);
  EXPECT_EQ(gguf.find_float("small"), 7.0);
  EXPECT_EQ(gguf.find_float("ratio"), 0.5);
  EXPECT_EQ(gguf.find_int("absent"), std::nullopt);
  EXPECT_EQ(gguf.find_string("absent"), std::nullopt);
  EXPECT_EQ(gguf.find("absent"), nullptr);
  EXPECT_EQ(gguf.get_float_array("ids"), (std::vector<double>{4.0, 5.0}));

  const std::string missing = error_message([&] { gguf.get_int("absent"); });
  EXPECT_NE(missing.find(file), std::string::npos) << missing;
  EXPECT_NE(missing.find("'absent'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("missing"), std::string::npos) << missing;

  const std::string wrong = error_message([&] { gguf.get_int("name"); });
  EXPECT_NE(wrong.find(file), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("'name'"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("STRING"), std::string::npos) << wrong;

  EXPECT_THROW(gguf.find_int("ratio"), Error);
  EXPECT_THROW(gguf.find_string("small"), Error);
  EXPECT_THROW(gguf.find_bool("small"), Error);
  EXPECT_THROW(gguf.find_float("name"), Error);
  EXPECT_THROW(gguf.get_string_array("ids"), Error);
  EXPECT_THROW(gguf.get_int_array("name"), Error);
  const std::string array = error_message([&] { gguf.get_string_array("ids"); });
  EXPECT_NE(array.find("ARRAY of INT32"), std::string::npos) << array;
}

TEST_F(GgufTest, ReleasedArraysKeepKeysAndScalars) {
  GgufWriter writer;
  writer.set("name", gguf_string("x"));
  writer.set("ids", gguf_int_array(GgufType::INT32, {4, 5, 6}));
  const std::string file = path("release.gguf");
  writer.write(file);
  GgufFile gguf = GgufFile::open(file);
  EXPECT_EQ(gguf.get_int_array("ids"), (std::vector<int64_t>{4, 5, 6}));

  gguf.release_metadata_arrays();
  ASSERT_NE(gguf.find("ids"), nullptr);
  EXPECT_EQ(gguf.find("ids")->type, GgufType::ARRAY);
  EXPECT_TRUE(gguf.find("ids")->array.empty());
  EXPECT_EQ(gguf.get_string("name"), "x");
  EXPECT_DEATH(gguf.get_int_array("ids"), "internal check failed");
}

TEST_F(GgufTest, MissingTensorNamesTensor) {
  const std::string file = path("small.gguf");
  small_writer().write(file);
  const GgufFile gguf = GgufFile::open(file);
  EXPECT_EQ(gguf.find_tensor("output.weight"), nullptr);
  const std::string message = error_message([&] { gguf.tensor("output.weight"); });
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("'output.weight'"), std::string::npos) << message;
}

TEST_F(GgufTest, TruncationAtEveryByteFails) {
  const Bytes bytes = small_writer().serialize();
  // Cutting only the padding after the last tensor leaves a valid file, so the cuts stop at the
  // end of the last tensor's data.
  const std::string full = write_file("full.gguf", bytes);
  const GgufFile gguf = GgufFile::open(full);
  const GgufTensorInfo& last = gguf.tensors().back();
  const size_t end_of_data = gguf.data_offset() + last.offset + last.size;
  ASSERT_LE(end_of_data, bytes.size());

  for (size_t cut = 0; cut < end_of_data; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string file =
        write_file("cut.gguf", Bytes(bytes.begin(), bytes.begin() + std::ptrdiff_t(cut)));
    const std::string message = open_error(file);
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    EXPECT_NE(message.find("byte offset"), std::string::npos) << message;
  }
}

TEST_F(GgufTest, TruncationNamesWhereItHappened) {
  const Bytes bytes = small_writer().serialize();
  const std::string full = write_file("full.gguf", bytes);
  const GgufFile gguf = GgufFile::open(full);
  const size_t array_value = offset_after_string(bytes, "test.array") + 4;
  // The cuts inside a key and inside a tensor info are in the last entry of each kind, because
  // earlier cuts leave too few bytes for the header counts, which is reported as such.
  const size_t array_key = offset_after_string(bytes, "test.array") - 3;
  const size_t norm_info = tensor_info_offsets(bytes, "norm").dims;

  struct Cut {
    const char* where;
    size_t length;
    const char* expected;  // a part of the message
  };
  const std::vector<Cut> cuts = {
      {"inside the header", 10, "header"},
      {"inside a key", array_key, "metadata entry 2 of 3"},
      {"inside an array", array_value + 12 + 8, "'test.array'"},
      {"inside a tensor info", norm_info + 6, "'norm'"},
      {"inside the header counts", 30, "header"},
      {"after the header", 40, "metadata count 3"},
      {"inside the data", size_t(gguf.data_offset() + gguf.tensor("norm").offset + 3), "'norm'"},
  };
  for (const Cut& cut : cuts) {
    SCOPED_TRACE(cut.where);
    const std::string file =
        write_file("cut.gguf", Bytes(bytes.begin(), bytes.begin() + std::ptrdiff_t(cut.length)));
    const std::string message = open_error(file);
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find(cut.expected), std::string::npos) << message;
    EXPECT_NE(message.find("download"), std::string::npos) << message;
  }
}

TEST_F(GgufTest, RejectsBadMagic) {
  Bytes bytes = small_writer().serialize();
  bytes[0] = 'X';
  const std::string file = write_file("magic.gguf", bytes);
  const std::string message = open_error(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("not a GGUF file"), std::string::npos) << message;
}

TEST_F(GgufTest, RejectsOtherVersions) {
  for (uint32_t version : {1u, 2u, 99u}) {
    SCOPED_TRACE(version);
    Bytes bytes = small_writer().serialize();
    patch<uint32_t>(bytes, 4, version);
    const std::string file = write_file("version.gguf", bytes);
    const std::string message = open_error(file);
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find("version " + std::to_string(version)), std::string::npos) << message;
    EXPECT_NE(message.find("only version 3"), std::string::npos) << message;
  }

  Bytes bytes = small_writer().serialize();
  patch<uint32_t>(bytes, 4, 0x03000000);
  const std::string message = open_error(write_file("big_endian.gguf", bytes));
  EXPECT_NE(message.find("big-endian"), std::string::npos) << message;
}

TEST_F(GgufTest, UnknownTensorTypeNamesTensorAndId) {
  Bytes bytes = small_writer().serialize();
  patch<uint32_t>(bytes, tensor_info_offsets(bytes, "weights").type, 7);
  const std::string file = write_file("type.gguf", bytes);
  const std::string message = open_error(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("'weights'"), std::string::npos) << message;
  EXPECT_NE(message.find("type id 7 (Q5_1 in ggml)"), std::string::npos) << message;
  EXPECT_NE(message.find("F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, BF16"), std::string::npos)
      << message;

  patch<uint32_t>(bytes, tensor_info_offsets(bytes, "weights").type, 1000);
  const std::string unknown = open_error(write_file("type.gguf", bytes));
  EXPECT_NE(unknown.find("type id 1000,"), std::string::npos) << unknown;
}

TEST_F(GgufTest, RejectsTensorOffsetOutOfRange) {
  Bytes bytes = small_writer().serialize();
  const size_t at = tensor_info_offsets(bytes, "norm").offset;
  patch<uint64_t>(bytes, at, uint64_t(1) << 20);
  const std::string file = write_file("range.gguf", bytes);
  const std::string message = open_error(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("'norm'"), std::string::npos) << message;
  EXPECT_NE(message.find("byte offset " + std::to_string(at)), std::string::npos) << message;

  // An offset near 2^64 must not wrap around when the size is added.
  patch<uint64_t>(bytes, at, ~uint64_t(31));
  const std::string wrapped = open_error(write_file("range.gguf", bytes));
  EXPECT_NE(wrapped.find("'norm'"), std::string::npos) << wrapped;
}

TEST_F(GgufTest, RejectsMisalignedTensorOffset) {
  Bytes bytes = small_writer().serialize();
  const size_t at = tensor_info_offsets(bytes, "norm").offset;
  patch<uint64_t>(bytes, at, read_at<uint64_t>(bytes, at) + 4);
  const std::string file = write_file("misaligned.gguf", bytes);
  const std::string message = open_error(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("'norm'"), std::string::npos) << message;
  EXPECT_NE(message.find("not a multiple of the alignment 32"), std::string::npos) << message;
}

TEST_F(GgufTest, RejectsInvalidAlignment) {
  GgufWriter writer(64);
  writer.set_string("general.name", "aligned");
  const Bytes valid = writer.serialize();
  const size_t at = offset_after_string(valid, "general.alignment") + 4;
  for (uint32_t alignment : {0u, 48u}) {
    SCOPED_TRACE(alignment);
    Bytes bytes = valid;
    patch<uint32_t>(bytes, at, alignment);
    const std::string message = open_error(write_file("alignment.gguf", bytes));
    EXPECT_NE(message.find("general.alignment is " + std::to_string(alignment)), std::string::npos)
        << message;
    EXPECT_NE(message.find("power of two"), std::string::npos) << message;
  }
}

TEST_F(GgufTest, RejectsDuplicateKeysAndTensors) {
  GgufWriter writer;
  writer.set_uint32("key.a", 1);
  writer.set_uint32("key.b", 2);
  const Bytes norm = random_bytes(16, 3);
  writer.add_tensor("t.a", DType::F32, {4}, norm.data(), norm.size());
  writer.add_tensor("t.b", DType::F32, {4}, norm.data(), norm.size());
  const Bytes valid = writer.serialize();

  Bytes bytes = valid;
  bytes[offset_after_string(bytes, "key.b") - 1] = 'a';
  const std::string keys = open_error(write_file("keys.gguf", bytes));
  EXPECT_NE(keys.find("duplicate metadata key"), std::string::npos) << keys;
  EXPECT_NE(keys.find("'key.a'"), std::string::npos) << keys;

  bytes = valid;
  bytes[offset_after_string(bytes, "t.b") - 1] = 'a';
  const std::string tensors = open_error(write_file("tensors.gguf", bytes));
  EXPECT_NE(tensors.find("duplicate tensor name"), std::string::npos) << tensors;
  EXPECT_NE(tensors.find("'t.a'"), std::string::npos) << tensors;
}

TEST_F(GgufTest, RejectsHugeCountsWithoutAllocating) {
  const Bytes valid = small_writer().serialize();
  const size_t array_count = offset_after_string(valid, "test.array") + 8;

  Bytes bytes = valid;
  patch<uint64_t>(bytes, array_count, uint64_t(1) << 62);
  const std::string array = open_error(write_file("array.gguf", bytes));
  EXPECT_NE(array.find("'test.array'"), std::string::npos) << array;
  EXPECT_NE(array.find("truncated"), std::string::npos) << array;

  bytes = valid;
  patch<uint64_t>(bytes, 8, ~uint64_t(0));  // tensor count
  EXPECT_NE(open_error(write_file("tensors.gguf", bytes)).find("tensor count"), std::string::npos);

  bytes = valid;
  patch<uint64_t>(bytes, 16, ~uint64_t(0));  // metadata count
  EXPECT_NE(open_error(write_file("kv.gguf", bytes)).find("metadata count"), std::string::npos);

  bytes = valid;
  const size_t key_length = 24;  // the first key's length field follows the 24-byte header
  patch<uint64_t>(bytes, key_length, uint64_t(1) << 40);
  EXPECT_NE(open_error(write_file("key.gguf", bytes)).find("truncated"), std::string::npos);
}

TEST_F(GgufTest, RejectsInvalidShapes) {
  const Bytes valid = small_writer().serialize();
  const TensorInfoOffsets weights = tensor_info_offsets(valid, "weights");

  Bytes bytes = valid;
  patch<uint64_t>(bytes, weights.dims, 48);  // Q4_1 blocks hold 32 elements
  const std::string block = open_error(write_file("block.gguf", bytes));
  EXPECT_NE(block.find("'weights'"), std::string::npos) << block;
  EXPECT_NE(block.find("block size 32"), std::string::npos) << block;

  bytes = valid;
  patch<uint64_t>(bytes, weights.dims, uint64_t(1) << 40);
  patch<uint64_t>(bytes, weights.dims + 8, uint64_t(1) << 40);
  const std::string overflow = open_error(write_file("overflow.gguf", bytes));
  EXPECT_NE(overflow.find("overflows"), std::string::npos) << overflow;

  bytes = valid;
  patch<uint64_t>(bytes, weights.dims + 8, 0);
  const std::string zero = open_error(write_file("zero.gguf", bytes));
  EXPECT_NE(zero.find("dimension 1 is 0"), std::string::npos) << zero;

  bytes = valid;
  patch<uint32_t>(bytes, weights.n_dims, 5);
  const std::string dims = open_error(write_file("dims.gguf", bytes));
  EXPECT_NE(dims.find("5 dimensions"), std::string::npos) << dims;
}

TEST_F(GgufTest, RejectsUnknownValueType) {
  Bytes bytes = small_writer().serialize();
  patch<uint32_t>(bytes, offset_after_string(bytes, "llama.block_count"), 13);
  const std::string message = open_error(write_file("value.gguf", bytes));
  EXPECT_NE(message.find("'llama.block_count'"), std::string::npos) << message;
  EXPECT_NE(message.find("value type 13"), std::string::npos) << message;
}

TEST_F(GgufTest, RejectsUint64AboveInt64Max) {
  GgufWriter writer;
  writer.set("big", gguf_int(GgufType::UINT64, 1));
  Bytes bytes = writer.serialize();
  patch<uint64_t>(bytes, offset_after_string(bytes, "big") + 4, ~uint64_t(0));
  const std::string message = open_error(write_file("big.gguf", bytes));
  EXPECT_NE(message.find("INT64_MAX"), std::string::npos) << message;
}

TEST_F(GgufTest, RejectsDeeplyNestedArrays) {
  GgufValue value = gguf_int_array(GgufType::UINT8, {1});
  for (int depth = 0; depth < 20; ++depth) value = gguf_array(GgufType::ARRAY, {value});
  GgufWriter writer;
  writer.set("deep", value);
  const std::string message = open_error(write_file("deep.gguf", writer.serialize()));
  EXPECT_NE(message.find("nested"), std::string::npos) << message;
}

TEST_F(GgufTest, MissingFileNamesPath) {
  const std::string file = path("absent.gguf");
  const std::string message = open_error(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;

  const std::string directory = open_error(dir_.string());
  EXPECT_NE(directory.find("not a regular file"), std::string::npos) << directory;

  const std::string empty = open_error(write_file("empty.gguf", {}));
  EXPECT_NE(empty.find("truncated"), std::string::npos) << empty;
}

TEST(GgufWriterTest, RejectsInvalidInput) {
  GgufWriter writer;
  const Bytes data(20);
  EXPECT_THROW(writer.add_tensor("t", DType::Q4_1, {32}, data.data(), 19), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::Q4_1, {16}, data.data(), 10), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::Q4_1, {}, data.data(), 0), Error);
  writer.add_tensor("t", DType::Q4_1, {32}, data.data(), 20);
  EXPECT_THROW(writer.add_tensor("t", DType::Q4_1, {32}, data.data(), 20), Error);

  EXPECT_THROW(gguf_int(GgufType::UINT8, 256), Error);
  EXPECT_THROW(gguf_int(GgufType::INT8, -129), Error);
  EXPECT_THROW(gguf_int(GgufType::UINT64, -1), Error);
  EXPECT_THROW(gguf_int(GgufType::STRING, 1), Error);
  EXPECT_THROW(gguf_float(GgufType::INT32, 1.0), Error);
  EXPECT_THROW(gguf_array(GgufType::INT32, {gguf_string("x")}), Error);

  writer.set_uint32("k", 1);
  EXPECT_THROW(writer.set_uint32("k", 2), Error);
  EXPECT_THROW(writer.set_uint32("general.alignment", 64), Error);
  EXPECT_THROW(GgufWriter(48), Error);
  EXPECT_THROW(GgufWriter(0), Error);
}

// Checks the real model when LIM_MODEL names it (the setup script exports it).
TEST(GgufModelTest, OpensSmolLM2) {
  const char* model = std::getenv("LIM_MODEL");
  if (model == nullptr || !fs::exists(model)) {
    GTEST_SKIP() << "set LIM_MODEL to the path of SmolLM2-135M-Instruct.Q4_1.gguf to run this test";
  }
  const GgufFile gguf = GgufFile::open(model);
  EXPECT_EQ(gguf.get_string("general.architecture"), "llama");
  EXPECT_EQ(gguf.tensors().size(), 272u);
  EXPECT_EQ(gguf.get_int("llama.block_count"), 30);

  const GgufTensorInfo& embeddings = gguf.tensor("token_embd.weight");
  EXPECT_EQ(embeddings.type, DType::Q8_0);
  EXPECT_EQ(embeddings.shape, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(embeddings.size, row_bytes(DType::Q8_0, 576) * 49152);

  const GgufTensorInfo& query = gguf.tensor("blk.0.attn_q.weight");
  EXPECT_EQ(query.type, DType::Q4_1);
  EXPECT_EQ(query.shape, (std::vector<int64_t>{576, 576}));
}

}  // namespace
}  // namespace lim
