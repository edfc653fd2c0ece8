#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common.h"
#include "eval/bench_report.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

TEST(BenchStats, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_DOUBLE_EQ(median({7.0}), 7.0);
  EXPECT_THROW(median({}), Error);
}

TEST(BenchStats, SpreadIsRangeOverMedian) {
  const Spread s = spread_of({10.0, 12.0, 9.0, 11.0, 10.5});
  EXPECT_DOUBLE_EQ(s.median, 10.5);
  EXPECT_DOUBLE_EQ(s.min, 9.0);
  EXPECT_DOUBLE_EQ(s.max, 12.0);
  EXPECT_DOUBLE_EQ(s.relative, 3.0 / 10.5);
  EXPECT_DOUBLE_EQ(spread_of({0.0, 0.0}).relative, 0.0);
}

BenchRepetition repetition(double median_ms, double matmul, double attention, double selection, double attended) {
  BenchRepetition r;
  r.n_past_start = 1028;
  r.step_ms = {median_ms - 0.5, median_ms, median_ms + 1.0};
  r.median_ms = median_ms;
  r.matmul_ms = matmul;
  r.attention_ms = attention;
  r.selection_ms = selection;
  r.total_ms = matmul + attention + selection + 1.0;
  r.rest_ms = 1.0;
  r.attended_rows = attended;
  r.step_bytes = attended > 1000 ? 100e6 : 60e6;
  return r;
}

// Dense at 20, 22, 21 ms (median 21); LessIsMore at 10, 11, 10.5 (median 10.5): 2x faster.
BenchResult sample_result() {
  BenchResult result;
  result.prefill = {{1024, 20.0}};
  BenchMeasurement dense;
  dense.context = 1024;
  dense.method = "dense";
  dense.policy = "dense";
  dense.n_ctx = 1128;
  dense.kv_cache_bytes = 2 * 1024 * 1024;
  dense.peak_rss_bytes = 300ull * 1024 * 1024;
  dense.load_average = 1.5;
  dense.repetitions = {repetition(20.0, 12.0, 7.0, 0.0, 1030.0), repetition(22.0, 13.0, 8.0, 0.0, 1030.0),
                       repetition(21.0, 12.5, 7.5, 0.0, 1030.0)};
  BenchMeasurement sparse = dense;
  sparse.method = "lessismore";
  sparse.budget = 512;
  sparse.policy = "lessismore K=512";
  sparse.peak_rss_bytes = 310ull * 1024 * 1024;
  sparse.load_average = 2.25;
  sparse.repetitions = {repetition(10.0, 6.0, 3.0, 0.5, 512.0), repetition(11.0, 6.5, 3.5, 0.7, 512.0),
                        repetition(10.5, 6.2, 3.2, 0.6, 512.0)};
  result.measurements = {dense, sparse};
  return result;
}

BenchSetup sample_setup() {
  BenchSetup setup;
  setup.model_path = "/models/m.gguf";
  setup.model_name = "Tiny";
  setup.arch = "llama";
  setup.weight_bytes = 10 * 1024 * 1024;
  setup.kv_type = "F32";
  setup.cpu = "Test CPU";
  setup.threads = 2;
  setup.hardware_threads = 4;
  setup.prompt = "pseudo-random token ids (seed 0)";
  setup.steps = 3;
  setup.repeats = 3;
  setup.warmup = 4;
  setup.bandwidth_bytes_per_s = 20e9;
  setup.bandwidth_median_bytes_per_s = 19e9;
  setup.bandwidth_buffer_bytes = 1 << 30;
  setup.decode_weight_bytes = 50e6;
  setup.date = "2026-01-02T03:04:05Z";
  return setup;
}

TEST(BenchReport, SummaryUsesMedianOfRepetitionMedians) {
  const BenchResult result = sample_result();
  const BenchMeasurement& dense = result.measurements[0];
  const BenchMeasurement& sparse = result.measurements[1];
  EXPECT_EQ(dense_at(result.measurements, 1024), &dense);
  EXPECT_EQ(dense_at(result.measurements, 2048), nullptr);

  const BenchSummary d = summarize_measurement(dense, &dense);
  EXPECT_DOUBLE_EQ(d.ms_per_token.median, 21.0);
  EXPECT_DOUBLE_EQ(d.ms_per_token.min, 20.0);
  EXPECT_DOUBLE_EQ(d.ms_per_token.max, 22.0);
  EXPECT_DOUBLE_EQ(*d.speedup, 1.0);

  const BenchSummary s = summarize_measurement(sparse, &dense);
  EXPECT_DOUBLE_EQ(s.ms_per_token.median, 10.5);
  EXPECT_DOUBLE_EQ(s.matmul_ms, 6.2);
  EXPECT_DOUBLE_EQ(s.attention_ms, 3.2);
  EXPECT_DOUBLE_EQ(s.selection_ms, 0.6);
  EXPECT_DOUBLE_EQ(s.rest_ms, 1.0);
  EXPECT_DOUBLE_EQ(s.attended_rows, 512.0);
  EXPECT_DOUBLE_EQ(*s.speedup, 2.0);
  EXPECT_FALSE(summarize_measurement(sparse, nullptr).speedup.has_value());
  EXPECT_FALSE(s.limit_ms.has_value()) << "no bandwidth given";
  const BenchSummary limited = summarize_measurement(sparse, &dense, 20e9);
  EXPECT_DOUBLE_EQ(limited.step_bytes, 60e6);
  EXPECT_DOUBLE_EQ(*limited.limit_ms, 3.0);
  EXPECT_DOUBLE_EQ(*limited.limit_share, 3.0 / 10.5);
}

TEST(BenchReport, MarkdownRowPerMeasurement) {
  const std::string md = bench_markdown(sample_setup(), sample_result());
  EXPECT_NE(md.find("- Model: Tiny (llama), `/models/m.gguf`, 10.0 MiB of weights\n"), std::string::npos) << md;
  EXPECT_NE(md.find("- KV cache: F32; decode products: int8\n"), std::string::npos) << md;
  EXPECT_NE(md.find("- Machine: Test CPU, 4 hardware threads, 2 worker threads, peak RSS 310.0 MiB, load average 1.50–2.25 during "
                    "the run\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("4 warm-up steps, then 3 repetitions of 3 greedy steps"), std::string::npos) << md;
  EXPECT_NE(md.find("first timed step decodes at context L + 5"), std::string::npos) << md;
  EXPECT_NE(md.find("- Date: 2026-01-02T03:04:05Z\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1024 | 20.00 | 51.2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("- Memory read bandwidth: 20.0 GB/s (best; median 19.0 GB/s), reading 1024.0 MiB with every worker "
                    "thread. A decode step reads 50.0 MB of weights"),
            std::string::npos)
      << md;
  // Limits: 100 MB / 20 GB/s = 5 ms (24% of 21 ms); 60 MB / 20 GB/s = 3 ms (29% of 10.5 ms).
  EXPECT_NE(md.find("| 1024 | dense | – | 21.00 | 20.00–22.00 | 9.5% | 12.50 | 7.50 | 0.00 | 1.00 | 1.00x | 1030.0 | "
                    "100.0 | 5.00 | 24% | 2.0 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 1024 | lessismore | 512 | 10.50 | 10.00–11.00 | 9.5% | 6.20 | 3.20 | 0.60 | 1.00 | 2.00x | 512.0 | "
                    "60.0 | 3.00 | 29% | 2.0 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("Policies:\n- lessismore K=512\n"), std::string::npos) << md;
}

TEST(BenchReport, RecordCarriesRawFiguresAndSummary) {
  const BenchResult result = sample_result();
  const BenchSetup setup = sample_setup();
  const nlohmann::json dense = bench_record(setup, result.prefill[0], result.measurements[0], &result.measurements[0]);
  const nlohmann::json j = bench_record(setup, result.prefill[0], result.measurements[1], &result.measurements[0]);

  EXPECT_TRUE(dense["budget"].is_null());
  EXPECT_EQ(j["budget"], 512);
  EXPECT_EQ(j["method"], "lessismore");
  EXPECT_EQ(j["context"], 1024);
  EXPECT_EQ(j["kv_type"], "F32");
  EXPECT_EQ(j["machine"]["cpu"], "Test CPU");
  EXPECT_EQ(j["machine"]["threads"], 2);
  EXPECT_EQ(j["date"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(j["model"], "/models/m.gguf");
  EXPECT_DOUBLE_EQ(j["prefill"]["seconds"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(j["prefill"]["tokens_per_s"].get<double>(), 51.2);
  ASSERT_EQ(j["repetitions"].size(), 3u);
  EXPECT_EQ(j["repetitions"][0]["step_ms"].size(), 3u);
  EXPECT_EQ(j["repetitions"][0]["n_past_start"], 1028);
  EXPECT_DOUBLE_EQ(j["summary"]["ms_per_token"].get<double>(), 10.5);
  EXPECT_DOUBLE_EQ(j["summary"]["speedup_vs_dense"].get<double>(), 2.0);
  EXPECT_EQ(j["peak_rss_bytes"], 310ull * 1024 * 1024);
  EXPECT_DOUBLE_EQ(j["load_average"].get<double>(), 2.25);
}

TEST(BenchReport, JsonlAppendsOneLinePerRecord) {
  const std::string path = test::temp_path("lim-bench") + ".jsonl";
  append_jsonl_line(path, {{"a", 1}});
  append_jsonl_line(path, {{"a", 2}});
  std::ifstream in(path);
  std::string line;
  std::vector<int> values;
  while (std::getline(in, line)) values.push_back(nlohmann::json::parse(line)["a"].get<int>());
  std::filesystem::remove(path);
  EXPECT_EQ(values, (std::vector<int>{1, 2}));

  EXPECT_THROW(append_jsonl_line("/nonexistent-directory/x.jsonl", {{"a", 1}}), Error);
}

TEST(BenchMachine, ParsesCpuinfoAndLoadavg) {
  EXPECT_EQ(cpu_model_from_cpuinfo("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core "
                                   "Processor\nprocessor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\n"),
            "AMD EPYC 9654 96-Core Processor");
  EXPECT_EQ(cpu_model_from_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\n"), "unknown");
  EXPECT_EQ(cpu_model_from_cpuinfo("Processor\t: ARMv7 Processor rev 4 (v7l)\n"), "ARMv7 Processor rev 4 (v7l)");
  EXPECT_DOUBLE_EQ(load_average_from_loadavg("3.20 4.32 3.96 2/301 1234\n"), 3.2);
  EXPECT_DOUBLE_EQ(load_average_from_loadavg(""), -1.0);
  EXPECT_GT(peak_rss_bytes(), 0u);
  EXPECT_EQ(utc_timestamp().size(), 20u);
}

}  // namespace
}  // namespace lim
