#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "eval/report.h"

namespace lim {
namespace {

const std::string kFixture = std::string(LIM_FIXTURE_DIR) + "/eval_results_small.jsonl";

// The fixture holds 2 problems x 2 samples for dense and for lessismore at budgets 64 and 128,
// plus a later duplicate of dense p2 sample 1 with the opposite verdict. By hand:
//   dense:   p1 2/2, p2 1/2 -> 75%;  lengths 100,200,300,400 -> 250;  10 s / 1000 steps -> 10 ms
//   K=64:    p1 1/2, p2 0/2 -> 25%;  lengths 200,200,400,400 -> 300;   6 s / 1200 steps ->  5 ms
//   K=128:   p1 2/2, p2 1/2 -> 75%;  lengths 200,300,200,300 -> 250;   6 s / 1000 steps ->  6 ms
//   recall:  K=64 (0.9+0.8+0.7+0.6)/4 = 0.75;  K=128 (1.0+0.9+0.8+0.9)/4 = 0.9
TEST(Report, SummaryMatchesHandCount) {
  const MergedResults merged = merge_results({kFixture});
  EXPECT_EQ(merged.records.size(), 12u);
  EXPECT_EQ(merged.duplicates, 1);

  const auto rows = summarize(merged.records);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].method, "dense");
  EXPECT_FALSE(rows[0].budget.has_value());
  EXPECT_DOUBLE_EQ(rows[0].accuracy, 0.75);
  EXPECT_DOUBLE_EQ(rows[0].mean_length, 250.0);
  EXPECT_DOUBLE_EQ(*rows[0].decode_ms_per_token, 10.0);
  EXPECT_DOUBLE_EQ(*rows[0].mean_attended, 300.0);
  EXPECT_FALSE(rows[0].recall.has_value());
  EXPECT_EQ(rows[0].problems, 2);
  EXPECT_EQ(rows[0].samples, 4);

  EXPECT_EQ(*rows[1].budget, 64);
  EXPECT_DOUBLE_EQ(rows[1].accuracy, 0.25);
  EXPECT_DOUBLE_EQ(rows[1].mean_length, 300.0);
  EXPECT_DOUBLE_EQ(*rows[1].decode_ms_per_token, 5.0);
  EXPECT_DOUBLE_EQ(*rows[1].recall, 0.75);

  EXPECT_EQ(*rows[2].budget, 128);
  EXPECT_DOUBLE_EQ(rows[2].accuracy, 0.75);
  EXPECT_DOUBLE_EQ(rows[2].mean_length, 250.0);
  EXPECT_DOUBLE_EQ(*rows[2].decode_ms_per_token, 6.0);
  EXPECT_NEAR(*rows[2].recall, 0.9, 1e-12);
}

TEST(Report, MarkdownTableComparesWithDense) {
  const std::string table = markdown_table(summarize(merge_results({kFixture}).records));
  const std::string expected =
      "| dataset | method | budget | problems | samples | accuracy (%) | vs dense (pts) | gen. length (tokens) | "
      "length vs dense | decode ms/token | attended tokens | recall |\n"
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
      "| toy | dense | – | 2 | 4 | 75.0 | – | 250.0 | – | 10.00 | 300.0 | – |\n"
      "| toy | lessismore | 64 | 2 | 4 | 25.0 | -50.0 | 300.0 | 1.20x | 5.00 | 64.0 | 0.750 |\n"
      "| toy | lessismore | 128 | 2 | 4 | 75.0 | 0.0 | 250.0 | 1.00x | 6.00 | 128.0 | 0.900 |\n";
  EXPECT_EQ(table, expected);
}

TEST(Report, RegradeRecomputesVerdictsFromTheText) {
  auto records = merge_results({kFixture}).records;
  EXPECT_EQ(regrade(records), 0);  // the fixture's verdicts agree with its texts
  records[0]["correct"] = false;   // "\boxed{1}" against reference "1"
  records[0]["extracted"] = "";
  EXPECT_EQ(regrade(records), 1);
  EXPECT_TRUE(records[0]["correct"].get<bool>());
  EXPECT_EQ(records[0]["extracted"], "1");
}

TEST(Report, WritesThreePlotsPerDataset) {
  const auto dir = std::filesystem::temp_directory_path() / ("lim-report-plots-" + std::to_string(::getpid()));
  const auto written = write_report_plots(summarize(merge_results({kFixture}).records), dir.string());
  ASSERT_EQ(written.size(), 3u);
  for (const auto& path : written) EXPECT_GT(std::filesystem::file_size(path), 100u) << path;
  EXPECT_EQ(std::filesystem::path(written[0]).filename(), "toy_accuracy_vs_budget.png");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lim
