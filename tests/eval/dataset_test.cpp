#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common.h"
#include "eval/dataset.h"
#include "eval/grading.h"

namespace lim {
namespace {

// The shared benchmark copies sit beside the repository: <repo>/../shared/data.
std::string shared_data_dir() {
  return (std::filesystem::path(LIM_FIXTURE_DIR) / ".." / ".." / ".." / "shared" / "data").lexically_normal().string();
}

std::string error_of(const std::string& text) {
  try {
    parse_problems(text, "problems.jsonl");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Dataset, ParsesTheCanonicalSchemaAndKeepsMetadata) {
  const auto problems = parse_problems(
      "{\"id\": \"a\", \"problem\": \"1+1?\", \"answer\": \"2\", \"level\": 1}\n"
      "\n"
      "{\"id\": 7, \"problem\": \"2+2?\", \"answer\": 4}\n",
      "problems.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].id, "a");
  EXPECT_EQ(problems[0].answer, "2");
  EXPECT_EQ(problems[0].metadata.at("level"), 1);
  EXPECT_EQ(problems[1].id, "7");
  EXPECT_EQ(problems[1].answer, "4");
  EXPECT_TRUE(problems[1].metadata.empty());
}

TEST(Dataset, MissingFieldNamesFileAndLine) {
  const std::string error = error_of(
      "{\"id\": \"a\", \"problem\": \"p\", \"answer\": \"1\"}\n"
      "{\"id\": \"b\", \"problem\": \"p\"}\n");
  EXPECT_NE(error.find("problems.jsonl:2:"), std::string::npos) << error;
  EXPECT_NE(error.find("missing field 'answer'"), std::string::npos) << error;
}

TEST(Dataset, BadJsonLineNamesFileAndLine) {
  const std::string error = error_of(
      "{\"id\": \"a\", \"problem\": \"p\", \"answer\": \"1\"}\n"
      "\n"
      "{\"id\": \"b\", \"problem\": \"p\", \"answer\": \n");
  EXPECT_NE(error.find("problems.jsonl:3:"), std::string::npos) << error;
  EXPECT_NE(error.find("not a JSON line"), std::string::npos) << error;
}

TEST(Dataset, MistypedFieldAndDuplicateIdAreErrors) {
  EXPECT_NE(error_of("{\"id\": \"a\", \"problem\": 5, \"answer\": \"1\"}\n").find("problems.jsonl:1: field 'problem' must be a string"),
            std::string::npos);
  EXPECT_NE(error_of("[1, 2]\n").find("problems.jsonl:1: expected a JSON object"), std::string::npos);
  const std::string duplicate = error_of(
      "{\"id\": \"a\", \"problem\": \"p\", \"answer\": \"1\"}\n{\"id\": \"a\", \"problem\": \"q\", \"answer\": \"2\"}\n");
  EXPECT_NE(duplicate.find("problems.jsonl:2: duplicate id 'a'"), std::string::npos) << duplicate;
}

TEST(Dataset, ReadsTheRawBenchmarkFormats) {
  const auto gsm8k = parse_problems(
      "{\"question\": \"How many?\", \"answer\": \"3 * 500 = <<3*500=1500>>1500\\n#### 1,500\"}\n", "test.jsonl");
  EXPECT_EQ(gsm8k[0].id, "test-1");
  EXPECT_EQ(gsm8k[0].problem, "How many?");
  EXPECT_EQ(gsm8k[0].answer, "1500");

  const auto aime25 = parse_problems(
      "{\"prompt\": \"Find b.\\nPlease reason step by step, and put your final answer within \\\\boxed{}.\", \"answer\": 70}\n",
      "aime25.jsonl");
  EXPECT_EQ(aime25[0].id, "aime25-1");
  EXPECT_EQ(aime25[0].problem, "Find b.");
  EXPECT_EQ(aime25[0].answer, "70");

  const auto math = parse_problems(
      "{\"problem\": \"p\", \"solution\": \"s\", \"answer\": \"\\\\frac12\", \"subject\": \"Algebra\", \"level\": 2, "
      "\"unique_id\": \"test/algebra/1.json\"}\n",
      "test.jsonl");
  EXPECT_EQ(math[0].id, "test/algebra/1.json");
  EXPECT_EQ(math[0].metadata.at("level"), 2);
  EXPECT_EQ(math[0].metadata.at("subject"), "Algebra");

  EXPECT_NE(error_of("{\"question\": \"q\", \"answer\": \"no final answer\"}\n").find("problems.jsonl:1: GSM8K answer has no '####'"),
            std::string::npos);
}

TEST(Dataset, SelectsByIdsLevelsAndLimit) {
  const auto problems = parse_problems(
      "{\"id\": \"a\", \"problem\": \"p\", \"answer\": \"1\", \"level\": 1}\n"
      "{\"id\": \"b\", \"problem\": \"p\", \"answer\": \"1\", \"level\": 2}\n"
      "{\"id\": \"c\", \"problem\": \"p\", \"answer\": \"1\", \"level\": 1}\n"
      "{\"id\": \"d\", \"problem\": \"p\", \"answer\": \"1\", \"level\": 3}\n",
      "problems.jsonl");
  ProblemFilter filter;
  filter.levels = {1, 3};
  auto selected = select_problems(problems, filter);
  ASSERT_EQ(selected.size(), 3u);
  EXPECT_EQ(selected[2].id, "d");
  filter.limit = 2;
  EXPECT_EQ(select_problems(problems, filter).size(), 2u);

  ProblemFilter by_id;
  by_id.ids = {"c", "a"};
  selected = select_problems(problems, by_id);
  ASSERT_EQ(selected.size(), 2u);
  EXPECT_EQ(selected[0].id, "a");  // dataset order
  by_id.ids = {"zz"};
  EXPECT_THROW(select_problems(problems, by_id), Error);

  const auto no_levels = parse_problems("{\"id\": \"a\", \"problem\": \"p\", \"answer\": \"1\"}\n", "x.jsonl");
  EXPECT_THROW(select_problems(no_levels, filter), Error);
}

TEST(Dataset, ResolvesNamesAndPaths) {
  EXPECT_EQ(resolve_dataset("gsm8k", "/data"), "/data/normalized/gsm8k_test.jsonl");
  EXPECT_EQ(resolve_dataset("math500", "/data"), "/data/normalized/math500.jsonl");
  EXPECT_THROW(resolve_dataset("no-such-dataset", "/data"), Error);
  EXPECT_EQ(dataset_label("aime24"), "aime24");
  EXPECT_EQ(dataset_label("/x/y/my_set.jsonl"), "my_set");
}

TEST(Dataset, LoadsTheSharedBenchmarks) {
  const std::string dir = shared_data_dir();
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no shared data at " << dir;
  EXPECT_EQ(load_problems(resolve_dataset("aime24", dir)).size(), 30u);
  EXPECT_EQ(load_problems(resolve_dataset("aime25", dir)).size(), 30u);
  const auto math = load_problems(resolve_dataset("math500", dir));
  EXPECT_EQ(math.size(), 500u);
  ProblemFilter level1;
  level1.levels = {1};
  EXPECT_EQ(select_problems(math, level1).size(), 43u);
  EXPECT_EQ(load_problems(resolve_dataset("gsm8k", dir)).size(), 1319u);

  // The raw copies read to the same problems and answers as the normalized ones.
  const auto raw_gsm8k = load_problems(dir + "/gsm8k/test.jsonl");
  const auto gsm8k = load_problems(resolve_dataset("gsm8k", dir));
  ASSERT_EQ(raw_gsm8k.size(), gsm8k.size());
  for (size_t i = 0; i < gsm8k.size(); ++i) {
    EXPECT_EQ(raw_gsm8k[i].answer, gsm8k[i].answer) << i;
    EXPECT_EQ(raw_gsm8k[i].problem, gsm8k[i].problem) << i;
  }
  const auto raw_aime25 = load_problems(dir + "/aime25/test.jsonl");
  const auto aime25 = load_problems(resolve_dataset("aime25", dir));
  ASSERT_EQ(raw_aime25.size(), aime25.size());
  for (size_t i = 0; i < aime25.size(); ++i) {
    EXPECT_EQ(raw_aime25[i].problem, aime25[i].problem) << i;
    EXPECT_TRUE(answers_equal(raw_aime25[i].answer, aime25[i].answer)) << i;
  }
  const auto raw_aime24 = load_problems(dir + "/aime24/test.jsonl");
  EXPECT_EQ(raw_aime24.size(), 30u);
  const auto raw_math = load_problems(dir + "/math500/test.jsonl");
  ASSERT_EQ(raw_math.size(), math.size());
  EXPECT_EQ(raw_math[0].id, math[0].id);
}

TEST(Dataset, FindsTheDataDirectoryFromOptionAndEnvironment) {
  EXPECT_EQ(find_data_dir("/explicit"), "/explicit");
  const char* saved = std::getenv("LIM_DATA_DIR");
  const std::string previous = saved ? saved : "";
  setenv("LIM_DATA_DIR", "/from/env", 1);
  EXPECT_EQ(find_data_dir(""), "/from/env");
  if (saved) {
    setenv("LIM_DATA_DIR", previous.c_str(), 1);
  } else {
    unsetenv("LIM_DATA_DIR");
  }
}

}  // namespace
}  // namespace lim
