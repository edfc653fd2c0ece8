// Summaries of evaluation results: merging result files, per-method tables and plots.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lim {

struct MergedResults {
  std::vector<nlohmann::json> records;  // in file order, the first record of each key
  int64_t duplicates = 0;               // records dropped because an earlier one had their key
  int64_t torn_lines = 0;               // files whose torn last line was left out
};

// Reads result files (shards, or reruns of the same run) and keeps one record per record_key.
// Throws lim::Error for a missing file or a damaged line before the last one.
MergedResults merge_results(const std::vector<std::string>& paths);

// Grades every record again from its stored text and reference with the current grader,
// updating `extracted`, `extraction` and `correct`. Returns how many verdicts changed.
int64_t regrade(std::vector<nlohmann::json>& records);

// One row of the table: a method at one budget (none for dense) on one dataset and model.
struct ReportRow {
  std::string dataset;
  std::string model;
  std::string method;
  std::optional<int64_t> budget;
  int64_t problems = 0;
  int64_t samples = 0;           // records
  double accuracy = 0.0;         // mean over problems of the fraction of correct samples (pass@1)
  double mean_length = 0.0;      // mean generated tokens per sample
  std::optional<double> decode_ms_per_token;  // total decode time / total decode steps
  std::optional<double> mean_attended;        // mean over samples that report it
  std::optional<double> recall;               // mean over samples that measured it
};

// Groups records by dataset, model, method and budget. Rows come per dataset and model, dense
// first, then the other methods in order of first appearance, budgets ascending.
std::vector<ReportRow> summarize(const std::vector<nlohmann::json>& records);

// A Markdown table of the rows: accuracy, generation length, decode latency, attended tokens and
// recall, with each sparse row compared to the dense row of its dataset and model (accuracy
// difference in points, length ratio) when there is one.
std::string markdown_table(const std::vector<ReportRow>& rows);

// Writes, per dataset and model, accuracy against budget, generation length against budget and
// accuracy against decode latency as PNG files in dir (created if needed). Dense appears as a
// flat line on the budget plots and as one point on the latency plot. Returns the files written.
std::vector<std::string> write_report_plots(const std::vector<ReportRow>& rows, const std::string& dir);

}  // namespace lim
