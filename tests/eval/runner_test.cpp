#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

#include "common.h"
#include "eval/report.h"
#include "eval/runner.h"

namespace lim {
namespace {

namespace fs = std::filesystem;

// A deterministic stand-in for the model: the response and timings depend only on the request,
// so two runs of the same plan write the same bytes.
class FakeBackend : public GenerationBackend {
 public:
  // Throws after `fail_after` calls, as a process killed mid-run stops generating.
  explicit FakeBackend(int64_t fail_after = -1) : fail_after_(fail_after) {}

  SampleOutput generate(const SampleRequest& r) override {
    if (fail_after_ >= 0 && calls_ >= fail_after_) throw std::runtime_error("killed");
    ++calls_;
    const size_t h = std::hash<std::string>{}(r.problem->id + r.method + std::to_string(r.budget.value_or(0)) +
                                              std::to_string(r.seed));
    SampleOutput out;
    const bool right = h % 3 != 0;
    out.text = "<think>work</think> so \\boxed{" + (right ? r.problem->answer : std::string("999")) + "}";
    out.n_prompt = 20;
    out.n_generated = 10 + static_cast<int64_t>(h % 50);
    out.thinking_tokens = 3;
    out.prefill_seconds = 0.25;
    out.n_decode_passes = out.n_generated - 1;
    out.decode_seconds = 0.01 * static_cast<double>(out.n_decode_passes);
    out.stop = "end of generation token";
    if (r.budget) out.mean_attended = static_cast<double>(*r.budget);
    return out;
  }
  int64_t calls() const { return calls_; }

 private:
  int64_t fail_after_;
  int64_t calls_ = 0;
};

std::vector<Problem> toy_problems(int n) {
  std::vector<Problem> problems;
  for (int i = 0; i < n; ++i) {
    problems.push_back({"p" + std::to_string(i), "What is " + std::to_string(i) + "?", std::to_string(i),
                        nlohmann::json::object()});
  }
  return problems;
}

EvalConfig toy_config() {
  EvalConfig c;
  c.dataset = "toy";
  c.model = "fake.gguf";
  c.methods = {"dense", "lessismore"};
  c.budgets = {64, 128};
  c.samples = 2;
  c.seed = 5;
  c.max_tokens = 100;
  return c;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lim-runner-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST(Runner, PlanRunsDenseOnce) {
  const auto problems = toy_problems(3);
  const auto plan = plan_samples(problems, toy_config());
  // dense: 3 problems x 2 samples; lessismore: 2 budgets x 3 x 2.
  ASSERT_EQ(plan.size(), 6u + 12u);
  EXPECT_FALSE(plan[0].budget.has_value());
  EXPECT_EQ(plan[0].seed, 5u);
  EXPECT_EQ(plan[1].seed, 6u);  // sample 1 uses seed + 1
  EXPECT_EQ(*plan[6].budget, 64);
  EXPECT_EQ(*plan.back().budget, 128);
}

TEST(Runner, ShardsCoverEachSampleOnce) {
  const auto problems = toy_problems(7);
  const auto plan = plan_samples(problems, toy_config());
  for (int64_t n = 1; n <= 6; ++n) {
    std::multiset<std::string> seen;
    for (int64_t i = 0; i < n; ++i) {
      for (const auto& r : shard_samples(plan, {i, n})) {
        seen.insert(r.problem->id + "/" + r.method + "/" + std::to_string(r.budget.value_or(0)) + "/" +
                    std::to_string(r.sample));
      }
    }
    EXPECT_EQ(seen.size(), plan.size()) << n << " shards";
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), plan.size()) << n << " shards";
  }
}

TEST(Runner, ShardKeepsProblemsWhenLimitGrows) {
  const auto few = toy_problems(4);
  const auto more = toy_problems(9);
  const auto before = shard_samples(plan_samples(few, toy_config()), {1, 3});
  const auto after = shard_samples(plan_samples(more, toy_config()), {1, 3});
  std::set<std::string> ids_after;
  for (const auto& r : after) ids_after.insert(r.problem->id);
  for (const auto& r : before) EXPECT_TRUE(ids_after.count(r.problem->id)) << r.problem->id;
  EXPECT_EQ(ids_after, (std::set<std::string>{"p1", "p4", "p7"}));
}

TEST(Runner, ParsesShards) {
  const Shard shard = parse_shard("2/5");
  EXPECT_EQ(shard.index, 2);
  EXPECT_EQ(shard.count, 5);
  for (const char* bad : {"5/5", "-1/3", "1/0", "1", "a/b", "1/2x"}) EXPECT_THROW(parse_shard(bad), Error) << bad;
}

TEST_F(RunnerTest, RecordHasKeysAndMetrics) {
  const auto problems = toy_problems(2);
  FakeBackend backend;
  const RunSummary summary = run_eval(problems, toy_config(), backend, path("out.jsonl"));
  EXPECT_EQ(summary.planned, 12);
  EXPECT_EQ(summary.generated, 12);
  const ResultsFile file = read_results(path("out.jsonl"));
  ASSERT_EQ(file.records.size(), 12u);
  const auto& r = file.records[0];
  for (const char* field : {"dataset", "id", "method", "budget", "sample", "seed", "model", "text", "n_generated",
                            "thinking_tokens", "answer_tokens", "time_s", "tokens_per_s", "decode_ms_per_token",
                            "mean_attended", "recall", "extracted", "correct", "max_tokens", "temperature"}) {
    EXPECT_TRUE(r.contains(field)) << field;
  }
  EXPECT_TRUE(r["budget"].is_null());
  EXPECT_EQ(r["thinking_chars"], 19);  // "<think>work</think>"
  EXPECT_TRUE(r["has_think_end"].get<bool>());
  EXPECT_NEAR(r["decode_ms_per_token"].get<double>(), 10.0, 1e-9);
  EXPECT_EQ(r["extraction"], "boxed");
}

TEST_F(RunnerTest, ResumeMatchesUninterruptedRun) {
  const auto problems = toy_problems(4);
  const EvalConfig config = toy_config();
  FakeBackend full;
  run_eval(problems, config, full, path("uninterrupted.jsonl"));
  const std::string expected = read_all(path("uninterrupted.jsonl"));

  // The process dies after 7 samples, in the middle of writing the 8th line.
  FakeBackend dying(7);
  EXPECT_THROW(run_eval(problems, config, dying, path("crashed.jsonl")), std::runtime_error);
  {
    std::ofstream out(path("crashed.jsonl"), std::ios::binary | std::ios::app);
    size_t start = 0;
    for (int i = 0; i < 7; ++i) start = expected.find('\n', start) + 1;
    out << expected.substr(start, 40);  // a torn line: no newline
  }
  ResultsFile torn = read_results(path("crashed.jsonl"));
  EXPECT_TRUE(torn.dropped_torn_line);
  EXPECT_EQ(torn.records.size(), 7u);

  FakeBackend resumed;
  const RunSummary summary = run_eval(problems, config, resumed, path("crashed.jsonl"));
  EXPECT_EQ(summary.skipped, 7);
  EXPECT_TRUE(summary.dropped_torn_line);
  EXPECT_EQ(summary.generated, summary.planned - 7);
  EXPECT_EQ(resumed.calls(), summary.planned - 7);
  EXPECT_EQ(read_all(path("crashed.jsonl")), expected);

  // Running once more finds nothing to do and changes nothing.
  FakeBackend idle;
  EXPECT_EQ(run_eval(problems, config, idle, path("crashed.jsonl")).generated, 0);
  EXPECT_EQ(idle.calls(), 0);
  EXPECT_EQ(read_all(path("crashed.jsonl")), expected);
}

TEST_F(RunnerTest, ResumeRefusesOtherSettings) {
  const auto problems = toy_problems(2);
  FakeBackend backend;
  run_eval(problems, toy_config(), backend, path("out.jsonl"));
  EvalConfig other = toy_config();
  other.max_tokens = 200;
  try {
    run_eval(problems, other, backend, path("out.jsonl"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
  }
}

TEST_F(RunnerTest, DamagedMiddleLineIsError) {
  std::ofstream(path("out.jsonl")) << "{\"a\": 1}\nnot json\n{\"b\": 2}\n";
  try {
    read_results(path("out.jsonl"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out.jsonl:2:"), std::string::npos) << e.what();
  }
  // The same damage on the last line is a torn write and is dropped.
  std::ofstream(path("torn.jsonl")) << "{\"a\": 1}\n{\"b\": 2, \"c\"\n";
  const ResultsFile file = read_results(path("torn.jsonl"));
  EXPECT_TRUE(file.dropped_torn_line);
  EXPECT_EQ(file.records.size(), 1u);
  EXPECT_EQ(file.valid_bytes, 9u);
}

TEST_F(RunnerTest, ShardFilesMergeToTheWholeRun) {
  const auto problems = toy_problems(5);
  EvalConfig config = toy_config();
  FakeBackend whole;
  run_eval(problems, config, whole, path("whole.jsonl"));
  std::vector<std::string> shards;
  for (int64_t i = 0; i < 3; ++i) {
    config.shard = {i, 3};
    FakeBackend backend;
    shards.push_back(path("shard" + std::to_string(i) + ".jsonl"));
    run_eval(problems, config, backend, shards.back());
  }
  shards.push_back(shards[0]);  // a file given twice counts once
  const MergedResults merged = merge_results(shards);
  const ResultsFile expected = read_results(path("whole.jsonl"));
  EXPECT_EQ(merged.records.size(), expected.records.size());
  EXPECT_GT(merged.duplicates, 0);
  std::set<std::string> a, b;
  for (const auto& r : merged.records) a.insert(r.dump());
  for (const auto& r : expected.records) b.insert(r.dump());
  EXPECT_EQ(a, b);
}

TEST(Runner, ProgressLineShowsCountsAndEta) {
  const std::string line = progress_line(3, 12, 30.0, 12);
  EXPECT_EQ(line.substr(0, 14), "[###---------]");
  EXPECT_NE(line.find("3/12"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 1m30s"), std::string::npos) << line;
}

}  // namespace
}  // namespace lim
