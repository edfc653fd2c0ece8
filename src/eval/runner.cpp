#include "eval/runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

#include "common.h"
#include "eval/grading.h"

namespace lim {

using json = nlohmann::json;

namespace {

bool uses_budget(const std::string& method) { return method != "dense"; }

std::string sys_error(const std::string& action, const std::string& path) {
  return action + " '" + path + "': " + std::strerror(errno);
}

// Appends text with O_APPEND, then fsyncs; the caller's fd stays open across records.
void append_durably(int fd, const std::string& text, const std::string& path) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(sys_error("cannot write results file", path));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error(sys_error("cannot fsync results file", path));
}

// The settings that must agree between records of the same sample.
json settings_of(const EvalConfig& c) {
  return {{"max_tokens", c.max_tokens}, {"temperature", c.temperature}, {"top_k", c.top_k},
          {"top_p", c.top_p}, {"chat", c.chat}, {"kv_type", c.kv_type}};
}

// Values of settings that records written before the setting existed were run with.
json setting_default(const std::string& name) {
  if (name == "kv_type") return "F32";
  return nullptr;
}

void check_settings(const json& record, const json& settings, const std::string& path) {
  for (const auto& [name, value] : settings.items()) {
    const json recorded = record.contains(name) ? record[name] : setting_default(name);
    if (recorded != value) {
      throw Error("results file '" + path + "' already contains " + record_key(record) + " written with " + name + " = " +
                  (recorded.is_null() ? "unset" : recorded.dump()) + ", not " + value.dump() +
                  "; rerun with the same settings to resume, or write to another --out file.");
    }
  }
}

// Split of a response at the end of its reasoning.
struct Split {
  int64_t thinking_chars = 0;
  int64_t answer_chars = 0;
  bool has_think_end = false;
};

Split split_thinking(const std::string& text) {
  static const std::string kEnd = "</think>";
  Split s;
  const size_t pos = text.find(kEnd);
  if (pos == std::string::npos) {
    s.answer_chars = static_cast<int64_t>(text.size());
    return s;
  }
  s.has_think_end = true;
  s.thinking_chars = static_cast<int64_t>(pos + kEnd.size());
  s.answer_chars = static_cast<int64_t>(text.size()) - s.thinking_chars;
  return s;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--";
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return buffer;
}

}  // namespace

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  Shard shard;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t used = 0;
    shard.index = std::stoll(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    shard.count = std::stoll(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    throw Error("--shard '" + text + "' is invalid; write it as i/n, e.g. 0/4 for the first of four shards.");
  }
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    throw Error("--shard '" + text + "' is invalid; it needs n >= 1 and 0 <= i < n.");
  }
  return shard;
}

std::vector<SampleRequest> plan_samples(const std::vector<Problem>& problems, const EvalConfig& config) {
  std::vector<SampleRequest> plan;
  for (const std::string& method : config.methods) {
    std::vector<std::optional<int64_t>> budgets;
    if (uses_budget(method)) {
      budgets.assign(config.budgets.begin(), config.budgets.end());
    } else {
      budgets.push_back(std::nullopt);
    }
    for (const auto& budget : budgets) {
      for (size_t p = 0; p < problems.size(); ++p) {
        for (int64_t s = 0; s < config.samples; ++s) {
          plan.push_back({&problems[p], static_cast<int64_t>(p), method, budget, s, config.seed + static_cast<uint64_t>(s)});
        }
      }
    }
  }
  return plan;
}

std::vector<SampleRequest> shard_samples(const std::vector<SampleRequest>& plan, const Shard& shard) {
  std::vector<SampleRequest> mine;
  for (const SampleRequest& request : plan) {
    if (request.problem_index % shard.count == shard.index) mine.push_back(request);
  }
  return mine;
}

std::string record_key(const json& r) {
  auto text = [&](const char* field) { return r.contains(field) ? r[field].dump() : std::string("null"); };
  return text("dataset") + "|" + text("id") + "|" + text("method") + "|" + text("budget") + "|" + text("sample") +
         "|" + text("seed") + "|" + text("model");
}

ResultsFile parse_results(const std::string& text, const std::string& source) {
  ResultsFile file;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    ++line_no;
    if (end == std::string::npos) {  // no newline: a write that did not finish
      file.dropped_torn_line = true;
      break;
    }
    const std::string line = text.substr(pos, end - pos);
    const bool last = end + 1 == text.size();
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.is_object()) {
        if (last) {
          file.dropped_torn_line = true;
          break;
        }
        throw Error(source + ":" + std::to_string(line_no) +
                    ": not a JSON record; only the last line of a results file may be damaged, so fix or remove this line.");
      }
      file.records.push_back(std::move(record));
    }
    pos = end + 1;
    file.valid_bytes = pos;
  }
  return file;
}

ResultsFile read_results(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  const std::string text(std::istreambuf_iterator<char>(in), {});
  return parse_results(text, path);
}

namespace {

// The fields that record_key reads, for a sample that may not have run yet.
json key_fields(const SampleRequest& request, const EvalConfig& config) {
  json r = json::object();
  r["dataset"] = config.dataset;
  r["id"] = request.problem->id;
  r["method"] = request.method;
  r["budget"] = request.budget ? json(*request.budget) : json(nullptr);
  r["sample"] = request.sample;
  r["seed"] = request.seed;
  r["model"] = config.model;
  return r;
}

}  // namespace

json make_record(const SampleRequest& request, const SampleOutput& out, const EvalConfig& config) {
  const Problem& p = *request.problem;
  const ExtractedAnswer extracted = extract_answer(out.text);
  const Split split = split_thinking(out.text);
  const double total_seconds = out.prefill_seconds + out.decode_seconds;

  json r = key_fields(request, config);
  const json settings = settings_of(config);  // items() must not outlive the object it walks
  for (const auto& [name, value] : settings.items()) r[name] = value;
  r["n_prompt"] = out.n_prompt;
  r["n_generated"] = out.n_generated;
  r["thinking_tokens"] = out.thinking_tokens;
  r["answer_tokens"] = out.n_generated - out.thinking_tokens;
  r["thinking_chars"] = split.thinking_chars;
  r["answer_chars"] = split.answer_chars;
  r["has_think_end"] = split.has_think_end;
  r["stop"] = out.stop;
  r["prefill_s"] = out.prefill_seconds;
  r["decode_s"] = out.decode_seconds;
  r["time_s"] = total_seconds;
  r["n_decode_passes"] = out.n_decode_passes;
  r["tokens_per_s"] = total_seconds > 0 ? out.n_generated / total_seconds : 0.0;
  r["decode_ms_per_token"] = out.n_decode_passes > 0 ? json(1000.0 * out.decode_seconds / out.n_decode_passes) : json(nullptr);
  r["mean_attended"] = out.mean_attended ? json(*out.mean_attended) : json(nullptr);
  r["recall"] = out.recall ? json(*out.recall) : json(nullptr);
  r["reference"] = p.answer;
  r["extracted"] = extracted.answer;
  r["extraction"] = extracted.method;
  r["correct"] = answers_equal(extracted.answer, p.answer);
  r["text"] = out.text;
  return r;
}

RunSummary run_eval(const std::vector<Problem>& problems, const EvalConfig& config, GenerationBackend& backend,
                    const std::string& out_path, const RunCallbacks& callbacks) {
  const std::vector<SampleRequest> mine = shard_samples(plan_samples(problems, config), config.shard);

  // The keys this shard plans, to find what is already done.
  std::unordered_map<std::string, size_t> planned;
  auto key_of = [&](const SampleRequest& request) { return record_key(key_fields(request, config)); };
  for (size_t i = 0; i < mine.size(); ++i) planned.emplace(key_of(mine[i]), i);

  const ResultsFile existing = read_results(out_path);
  const json settings = settings_of(config);
  std::unordered_set<std::string> done;
  for (const json& record : existing.records) {
    const std::string key = record_key(record);
    if (!planned.count(key)) continue;
    check_settings(record, settings, out_path);
    done.insert(key);
  }

  const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(sys_error("cannot open results file", out_path) + "; check the directory.");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Drop a torn last line before appending, so the next record starts on a line of its own.
  if (existing.dropped_torn_line && ::ftruncate(fd, static_cast<off_t>(existing.valid_bytes)) != 0) {
    throw Error(sys_error("cannot truncate the torn last line of", out_path));
  }

  RunSummary summary;
  summary.planned = static_cast<int64_t>(mine.size());
  summary.dropped_torn_line = existing.dropped_torn_line;
  std::vector<const SampleRequest*> pending;
  for (const SampleRequest& request : mine) {
    if (done.count(key_of(request))) {
      ++summary.skipped;
    } else {
      pending.push_back(&request);
    }
  }
  for (const SampleRequest* request : pending) {
    const json record = make_record(*request, backend.generate(*request), config);
    append_durably(fd, record.dump() + "\n", out_path);
    ++summary.generated;
    if (callbacks.on_record) callbacks.on_record(record, summary.generated, static_cast<int64_t>(pending.size()));
  }
  return summary;
}

std::string progress_line(int64_t done, int64_t total, double elapsed_seconds, int width) {
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int filled = static_cast<int>(fraction * width + 0.5);
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '-') + "]";
  const double eta = done > 0 ? elapsed_seconds / static_cast<double>(done) * static_cast<double>(total - done) : -1.0;
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, " %lld/%lld %3.0f%%  elapsed %s  ETA %s", static_cast<long long>(done),
                static_cast<long long>(total), 100.0 * fraction, format_duration(elapsed_seconds).c_str(),
                format_duration(eta).c_str());
  return bar + buffer;
}

}  // namespace lim
