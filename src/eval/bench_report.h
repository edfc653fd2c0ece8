// Results of `lim bench` (decode latency against context length) and the files written from them:
// the statistics over repetitions, one JSONL record per measurement and a Markdown table. Also the
// few facts about the machine that the records carry.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lim {

// The median of values: the middle one, or the mean of the two middle ones for an even count.
// Throws lim::Error for an empty list.
double median(std::vector<double> values);

// Median, extremes and relative spread ((max - min) / median, 0 when the median is 0) of values.
struct Spread {
  double median = 0.0;
  double min = 0.0;
  double max = 0.0;
  double relative = 0.0;
};
Spread spread_of(const std::vector<double>& values);

// Cumulative prefill of the shared prompt up to one context length.
struct PrefillPoint {
  int64_t context = 0;    // tokens prefilled so far
  double seconds = 0.0;   // wall time for all of them
  double tokens_per_s() const { return seconds > 0 ? static_cast<double>(context) / seconds : 0.0; }
};

// One repetition: `steps` greedy decode steps timed one by one.
struct BenchRepetition {
  int64_t n_past_start = 0;    // cached tokens before the repetition's first step
  std::vector<double> step_ms;  // wall time of each step: the forward pass and the greedy pick
  double median_ms = 0.0;       // median of step_ms
  // The session's decode timings over the repetition, per step. rest_ms is total_ms minus the
  // three named phases: norms, RoPE, embedding, residuals and KV appends.
  double total_ms = 0.0;
  double matmul_ms = 0.0;
  double attention_ms = 0.0;
  double selection_ms = 0.0;
  double rest_ms = 0.0;
  // Rows one sparse layer attended per step, averaged over the repetition's steps and sparse
  // layers; for dense attention, the mean context length of the steps.
  double attended_rows = 0.0;
  int64_t dense_fallback_steps = 0;  // steps a sparse policy ran densely (budget covered context)
  // KV rows one layer read per step, averaged over all layers (dense layers read the whole
  // context, sparse layers their selection), and the bytes one step had to read: every weight
  // matrix once plus those KV rows. The basis of the bandwidth limit.
  double rows_per_layer = 0.0;
  double step_bytes = 0.0;
};

// All repetitions of one method at one budget and context length.
struct BenchMeasurement {
  int64_t context = 0;             // cached tokens copied from the prefilled prompt (L)
  std::string method;
  std::optional<int64_t> budget;   // none for dense
  std::string policy;              // the policy in words
  int64_t n_ctx = 0;               // KV cache capacity of the measuring session
  uint64_t kv_cache_bytes = 0;
  uint64_t peak_rss_bytes = 0;     // of the process, right after the measurement
  // One-minute load average of the machine right after the measurement, or -1 where unknown.
  // Other processes on the same cores slow decode steps, so this helps to read outliers.
  double load_average = -1.0;
  std::vector<BenchRepetition> repetitions;
};

// The reported figures of a measurement. Each breakdown column is the median over repetitions of
// that phase's ms/token, so the columns need not add up to the total exactly.
struct BenchSummary {
  Spread ms_per_token;  // over the repetitions' median step times
  double matmul_ms = 0.0;
  double attention_ms = 0.0;
  double selection_ms = 0.0;
  double rest_ms = 0.0;
  double attended_rows = 0.0;            // mean over repetitions
  std::optional<double> speedup;         // dense median / this median, when dense was measured
  double step_bytes = 0.0;               // mean over repetitions
  // step_bytes / memory bandwidth: the fastest a step could run if only reading memory took
  // time, and that limit as a share of the measured median. Unset without a bandwidth.
  std::optional<double> limit_ms;
  std::optional<double> limit_share;
};
BenchSummary summarize_measurement(const BenchMeasurement& m, const BenchMeasurement* dense,
                                   double bandwidth_bytes_per_s = 0.0);

// The dense measurement at m's context, if any.
const BenchMeasurement* dense_at(const std::vector<BenchMeasurement>& all, int64_t context);

// Settings and machine of a whole run, the same for every record of the run.
struct BenchSetup {
  std::string model_path;
  std::string model_name;
  std::string arch;
  uint64_t weight_bytes = 0;
  std::string kv_type = "F32";
  std::string matmul = "int8";  // decode weight products: "int8" or "exact"
  std::string cpu;              // model name from /proc/cpuinfo
  int threads = 0;              // worker threads, the calling thread included
  unsigned hardware_threads = 0;
  std::string prompt;           // where the prompt tokens came from
  int64_t steps = 0;
  int64_t repeats = 0;
  int64_t warmup = 0;
  std::string date;             // UTC, ISO 8601
  // Measured memory read bandwidth (best of several passes with all worker threads), or 0 when
  // not measured; and the weight bytes a decode step reads.
  double bandwidth_bytes_per_s = 0.0;
  double bandwidth_median_bytes_per_s = 0.0;
  uint64_t bandwidth_buffer_bytes = 0;
  double decode_weight_bytes = 0.0;
};

struct BenchResult {
  std::vector<PrefillPoint> prefill;       // ascending context
  std::vector<BenchMeasurement> measurements;  // ascending context; dense first at each
};

// The JSONL record of one measurement: the setup, the prefill point of its context, every
// repetition's raw figures and the summary.
nlohmann::json bench_record(const BenchSetup& setup, const PrefillPoint& prefill, const BenchMeasurement& m,
                            const BenchMeasurement* dense);

// Appends one line to path and flushes it. Throws lim::Error when the file cannot be written.
void append_jsonl_line(const std::string& path, const nlohmann::json& record);

// A Markdown report: a setup paragraph, the prefill table, and one decode row per measurement
// with ms/token, spread, breakdown, speedup against dense, attended rows and KV cache size.
std::string bench_markdown(const BenchSetup& setup, const BenchResult& result);

// The first "model name" line of /proc/cpuinfo text (other architectures: "Processor" or
// "cpu model"), or "unknown".
std::string cpu_model_from_cpuinfo(const std::string& cpuinfo);
std::string cpu_model();

// The one-minute load average from /proc/loadavg text, or -1 when it cannot be read.
double load_average_from_loadavg(const std::string& loadavg);
double load_average();

// Peak resident set size of this process in bytes (getrusage).
uint64_t peak_rss_bytes();

// Size of a model's weights on disk: the GGUF file, or the safetensors files of a directory.
uint64_t model_weight_bytes(const std::string& path);

// The current time in UTC as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_timestamp();

}  // namespace lim
