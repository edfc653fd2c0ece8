// `lim report`: merge evaluation result files and print a Markdown table; optionally plot.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "eval/report.h"

namespace lim::cli {

namespace {

struct ReportOptions {
  std::vector<std::string> results;
  std::string plots;
  std::string out;
  bool regrade = false;
};

int run_report(const ReportOptions& o) {
  MergedResults merged = merge_results(o.results);
  if (merged.records.empty()) throw Error("the result files hold no records.");
  std::fprintf(stderr, "lim report: %zu records from %zu files (%lld duplicates dropped, %lld torn last lines ignored)\n",
               merged.records.size(), o.results.size(), static_cast<long long>(merged.duplicates),
               static_cast<long long>(merged.torn_lines));
  if (o.regrade) {
    const int64_t changed = regrade(merged.records);
    std::fprintf(stderr, "lim report: regraded every record; %lld verdicts changed\n", static_cast<long long>(changed));
  }

  const std::vector<ReportRow> rows = summarize(merged.records);
  const std::string table = markdown_table(rows);
  std::fwrite(table.data(), 1, table.size(), stdout);
  if (!o.out.empty()) {
    std::ofstream file(o.out);
    if (!file) throw Error("cannot write --out file '" + o.out + "'; check the directory.");
    file << table;
  }
  if (!o.plots.empty()) {
    for (const std::string& path : write_report_plots(rows, o.plots)) std::fprintf(stderr, "lim report: wrote %s\n", path.c_str());
  }
  return 0;
}

std::function<int()> add_report_command(CLI::App& app) {
  auto options = std::make_shared<ReportOptions>();
  ReportOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("report", "Summarize `lim eval` results as a Markdown table, with optional plots");
  cmd->add_option("results", o.results, "Result JSONL files (shards and reruns are merged; duplicates count once)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--plots", o.plots, "Write PNG plots (accuracy and length against budget, accuracy against latency) to this directory");
  cmd->add_option("-o,--out", o.out, "Also write the Markdown table to this file");
  cmd->add_flag("--regrade", o.regrade, "Grade the stored responses again with the current grader instead of using the stored verdicts");
  return [options]() { return run_report(*options); };
}

const CommandRegistrar kReportCommand("report", add_report_command);

}  // namespace
}  // namespace lim::cli
