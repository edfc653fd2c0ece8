// Evaluation runs: methods x budgets x samples over a set of problems, one JSONL record per
// finished sample, resumable after a crash and splittable into shards.
//
// Durability contract: every record is written with one append of the whole line, then flushed
// and fsynced before the next sample starts. A crash can therefore leave at most one torn line,
// the last one (no trailing newline). Reopening the file drops that line and truncates it away
// before anything new is appended, and earlier records are never rewritten.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/dataset.h"

namespace lim {

// One sample to generate: a problem under one method and budget with one seed.
struct SampleRequest {
  const Problem* problem = nullptr;
  int64_t problem_index = 0;      // position of the problem in the selected list
  std::string method;
  std::optional<int64_t> budget;  // none for dense, which ignores budgets
  int64_t sample = 0;             // 0 .. samples-1
  uint64_t seed = 0;
};

// Result of one generated response, as a backend reports it.
struct SampleOutput {
  std::string text;
  int64_t n_prompt = 0;
  int64_t n_generated = 0;       // the end-of-generation token included
  int64_t thinking_tokens = 0;   // tokens up to and including "</think>"; 0 without it
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  int64_t n_decode_passes = 0;
  std::string stop;              // why generation stopped
  std::optional<double> mean_attended;  // rows attended per layer and decode step
  std::optional<double> recall;         // mean attention recall of sparse layers, when measured
};

// Generates responses; the model behind it, or a fake in tests.
class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  virtual SampleOutput generate(const SampleRequest& request) = 0;
};

struct Shard {
  int64_t index = 0;  // 0 .. count-1
  int64_t count = 1;
};

// Parses "i/n" with 0 <= i < n. Throws lim::Error naming the value otherwise.
Shard parse_shard(const std::string& text);

struct EvalConfig {
  std::string dataset;               // label written into records
  std::string model;                 // label written into records (the model file name)
  std::vector<std::string> methods;  // e.g. {"dense", "lessismore"}
  std::vector<int64_t> budgets;      // used by every method except dense
  int64_t samples = 1;
  uint64_t seed = 0;                 // sample s uses seed + s, the same for every method
  // Settings recorded with each sample; resuming with different ones is refused.
  int64_t max_tokens = 32768;
  double temperature = 0.6;
  int64_t top_k = 20;
  double top_p = 0.95;
  bool chat = true;
  std::string kv_type = "F32";       // KV cache element type
  Shard shard;
};

// The samples of the whole run in a fixed order (method, budget, problem, sample), before
// sharding. Dense appears once, without a budget.
std::vector<SampleRequest> plan_samples(const std::vector<Problem>& problems, const EvalConfig& config);

// Returns the samples of every shard.count-th problem from problem shard.index. The shards cover
// the plan exactly once, and a problem keeps its shard when a rerun raises --limit.
std::vector<SampleRequest> shard_samples(const std::vector<SampleRequest>& plan, const Shard& shard);

// The identity of a record: dataset, problem id, method, budget, sample, seed and model.
std::string record_key(const nlohmann::json& record);

struct ResultsFile {
  std::vector<nlohmann::json> records;
  bool dropped_torn_line = false;  // the last line was incomplete and is not among the records
  uint64_t valid_bytes = 0;        // length of the file up to the end of the last complete line
};

// Reads a results file (a missing file has no records). A last line without its newline, or a
// last line that is not JSON, is torn: it is left out and reported. Any other line that is not a
// JSON object throws lim::Error with the file and line number.
ResultsFile read_results(const std::string& path);

// Same for text already in memory; `source` names it in errors.
ResultsFile parse_results(const std::string& text, const std::string& source);

// The record written for a finished sample; correct is graded against the problem's answer.
nlohmann::json make_record(const SampleRequest& request, const SampleOutput& output, const EvalConfig& config);

struct RunSummary {
  int64_t planned = 0;    // samples in this shard
  int64_t skipped = 0;    // already in the results file
  int64_t generated = 0;  // generated now
  bool dropped_torn_line = false;  // the file ended in a torn line, which was truncated away
};

struct RunCallbacks {
  // Called after each record is durable, with its index among this run's pending samples.
  std::function<void(const nlohmann::json& record, int64_t done, int64_t pending)> on_record;
};

// Runs the shard's samples that the results file at out_path does not contain yet, appending each
// record as it finishes (see the durability contract above). Throws lim::Error when the file
// contains the same samples written with other settings.
RunSummary run_eval(const std::vector<Problem>& problems, const EvalConfig& config, GenerationBackend& backend,
                    const std::string& out_path, const RunCallbacks& callbacks = {});

// Formats a one-line progress bar with counts, elapsed time and ETA, e.g.
// "[#####-----] 12/40  30%  elapsed 1m02s  ETA 2m25s".
std::string progress_line(int64_t done, int64_t total, double elapsed_seconds, int width = 30);

}  // namespace lim
