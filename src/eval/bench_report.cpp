#include "eval/bench_report.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common.h"

namespace lim {

using json = nlohmann::json;

namespace {

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string mib(uint64_t bytes) { return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 1); }

// "1 step", "2 steps".
std::string count(int64_t n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string budget_text(const std::optional<int64_t>& budget) { return budget ? std::to_string(*budget) : "–"; }

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

template <typename Field>
std::vector<double> per_repetition(const BenchMeasurement& m, Field field) {
  std::vector<double> values;
  values.reserve(m.repetitions.size());
  for (const BenchRepetition& r : m.repetitions) values.push_back(field(r));
  return values;
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) throw Error("median: the list of values is empty; pass at least one value.");
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

Spread spread_of(const std::vector<double>& values) {
  Spread s;
  s.median = median(values);
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  s.relative = s.median != 0.0 ? (s.max - s.min) / s.median : 0.0;
  return s;
}

BenchSummary summarize_measurement(const BenchMeasurement& m, const BenchMeasurement* dense,
                                   double bandwidth_bytes_per_s) {
  if (m.repetitions.empty()) {
    throw Error("measurement at context " + std::to_string(m.context) + " (" + m.method + ") has no repetitions.");
  }
  BenchSummary s;
  s.ms_per_token = spread_of(per_repetition(m, [](const BenchRepetition& r) { return r.median_ms; }));
  s.matmul_ms = median(per_repetition(m, [](const BenchRepetition& r) { return r.matmul_ms; }));
  s.attention_ms = median(per_repetition(m, [](const BenchRepetition& r) { return r.attention_ms; }));
  s.selection_ms = median(per_repetition(m, [](const BenchRepetition& r) { return r.selection_ms; }));
  s.rest_ms = median(per_repetition(m, [](const BenchRepetition& r) { return r.rest_ms; }));
  double attended = 0.0;
  for (const BenchRepetition& r : m.repetitions) attended += r.attended_rows;
  s.attended_rows = attended / static_cast<double>(m.repetitions.size());
  double bytes = 0.0;
  for (const BenchRepetition& r : m.repetitions) bytes += r.step_bytes;
  s.step_bytes = bytes / static_cast<double>(m.repetitions.size());
  if (bandwidth_bytes_per_s > 0 && s.step_bytes > 0) {
    s.limit_ms = 1000.0 * s.step_bytes / bandwidth_bytes_per_s;
    if (s.ms_per_token.median > 0) s.limit_share = *s.limit_ms / s.ms_per_token.median;
  }
  if (dense && !dense->repetitions.empty() && s.ms_per_token.median > 0) {
    s.speedup = median(per_repetition(*dense, [](const BenchRepetition& r) { return r.median_ms; })) /
                s.ms_per_token.median;
  }
  return s;
}

const BenchMeasurement* dense_at(const std::vector<BenchMeasurement>& all, int64_t context) {
  for (const BenchMeasurement& m : all) {
    if (m.method == "dense" && m.context == context) return &m;
  }
  return nullptr;
}

json bench_record(const BenchSetup& setup, const PrefillPoint& prefill, const BenchMeasurement& m,
                  const BenchMeasurement* dense) {
  json j;
  j["date"] = setup.date;
  j["model"] = setup.model_path;
  j["model_name"] = setup.model_name;
  j["arch"] = setup.arch;
  j["weight_bytes"] = setup.weight_bytes;
  j["kv_type"] = setup.kv_type;
  j["matmul"] = setup.matmul;
  j["machine"] = {{"cpu", setup.cpu}, {"threads", setup.threads}, {"hardware_threads", setup.hardware_threads}};
  j["prompt"] = setup.prompt;
  j["steps"] = setup.steps;
  j["repeats"] = setup.repeats;
  j["warmup"] = setup.warmup;

  j["context"] = m.context;
  j["method"] = m.method;
  j["budget"] = m.budget ? json(*m.budget) : json(nullptr);
  j["policy"] = m.policy;
  j["n_ctx"] = m.n_ctx;
  j["kv_cache_bytes"] = m.kv_cache_bytes;
  j["peak_rss_bytes"] = m.peak_rss_bytes;
  j["load_average"] = m.load_average >= 0 ? json(m.load_average) : json(nullptr);
  j["prefill"] = {{"tokens", prefill.context}, {"seconds", prefill.seconds}, {"tokens_per_s", prefill.tokens_per_s()}};

  json reps = json::array();
  for (const BenchRepetition& r : m.repetitions) {
    reps.push_back({{"n_past_start", r.n_past_start},
                    {"step_ms", r.step_ms},
                    {"median_ms", r.median_ms},
                    {"total_ms", r.total_ms},
                    {"matmul_ms", r.matmul_ms},
                    {"attention_ms", r.attention_ms},
                    {"selection_ms", r.selection_ms},
                    {"rest_ms", r.rest_ms},
                    {"attended_rows", r.attended_rows},
                    {"dense_fallback_steps", r.dense_fallback_steps},
                    {"rows_per_layer", r.rows_per_layer},
                    {"step_bytes", r.step_bytes}});
  }
  j["repetitions"] = std::move(reps);

  if (setup.bandwidth_bytes_per_s > 0) {
    j["bandwidth"] = {{"best_bytes_per_s", setup.bandwidth_bytes_per_s},
                      {"median_bytes_per_s", setup.bandwidth_median_bytes_per_s},
                      {"buffer_bytes", setup.bandwidth_buffer_bytes}};
  }
  j["decode_weight_bytes"] = setup.decode_weight_bytes;
  const BenchSummary s = summarize_measurement(m, dense, setup.bandwidth_bytes_per_s);
  j["summary"] = {{"ms_per_token", s.ms_per_token.median},
                  {"min_ms", s.ms_per_token.min},
                  {"max_ms", s.ms_per_token.max},
                  {"relative_spread", s.ms_per_token.relative},
                  {"matmul_ms", s.matmul_ms},
                  {"attention_ms", s.attention_ms},
                  {"selection_ms", s.selection_ms},
                  {"rest_ms", s.rest_ms},
                  {"attended_rows", s.attended_rows},
                  {"speedup_vs_dense", s.speedup ? json(*s.speedup) : json(nullptr)},
                  {"step_bytes", s.step_bytes},
                  {"bandwidth_limit_ms", s.limit_ms ? json(*s.limit_ms) : json(nullptr)},
                  {"share_of_bandwidth_limit", s.limit_share ? json(*s.limit_share) : json(nullptr)}};
  return j;
}

void append_jsonl_line(const std::string& path, const json& record) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  if (!out) throw Error("cannot append to --jsonl file '" + path + "'; check that its directory exists and is writable.");
  out << record.dump() << '\n';
  out.flush();
  if (!out) throw Error("writing to --jsonl file '" + path + "' failed; check the free disk space.");
}

std::string bench_markdown(const BenchSetup& setup, const BenchResult& result) {
  std::ostringstream md;
  uint64_t peak = 0;
  double load_min = -1.0;
  double load_max = -1.0;
  for (const BenchMeasurement& m : result.measurements) {
    peak = std::max(peak, m.peak_rss_bytes);
    if (m.load_average < 0) continue;
    load_min = load_min < 0 ? m.load_average : std::min(load_min, m.load_average);
    load_max = std::max(load_max, m.load_average);
  }
  md << "- Model: " << setup.model_name << " (" << setup.arch << "), `" << setup.model_path << "`, "
     << mib(setup.weight_bytes) << " MiB of weights\n";
  md << "- KV cache: " << setup.kv_type << "; decode products: " << setup.matmul << "\n";
  if (setup.bandwidth_bytes_per_s > 0) {
    md << "- Memory read bandwidth: " << fixed(setup.bandwidth_bytes_per_s / 1e9, 1) << " GB/s (best; median "
       << fixed(setup.bandwidth_median_bytes_per_s / 1e9, 1) << " GB/s), reading " << mib(setup.bandwidth_buffer_bytes)
       << " MiB with every worker thread. A decode step reads " << fixed(setup.decode_weight_bytes / 1e6, 1)
       << " MB of weights plus its KV rows; \"limit\" is those bytes over the best bandwidth, and \"of limit\" "
          "that time as a share of the measured ms/token.\n";
  }
  md << "- Machine: " << setup.cpu << ", " << count(setup.hardware_threads, "hardware thread") << ", "
     << count(setup.threads, "worker thread") << ", peak RSS " << mib(peak) << " MiB";
  if (load_min >= 0) md << ", load average " << fixed(load_min, 2) << "–" << fixed(load_max, 2) << " during the run";
  md << "\n";
  md << "- Prompt: " << setup.prompt << "\n";
  md << "- Decode: per context L and method, " << count(setup.warmup, "warm-up step") << ", then "
     << count(setup.repeats, "repetition") << " of " << count(setup.steps, "greedy step")
     << ". The first timed step decodes at context L + " << setup.warmup + 1
     << " (its own token included), and each step adds one token.\n";
  md << "- Date: " << setup.date << "\n\n";

  md << "| context | prefill s | prefill tokens/s |\n| ---: | ---: | ---: |\n";
  for (const PrefillPoint& p : result.prefill) {
    md << "| " << p.context << " | " << fixed(p.seconds, 2) << " | " << fixed(p.tokens_per_s(), 1) << " |\n";
  }
  md << "\n";

  md << "| context | method | K | ms/token | min–max | spread | matmul | attention | selection | rest | "
        "speedup | attended rows | MB read | limit ms | of limit | KV cache MiB |\n"
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |\n";
  for (const BenchMeasurement& m : result.measurements) {
    const BenchMeasurement* dense = dense_at(result.measurements, m.context);
    const BenchSummary s = summarize_measurement(m, dense, setup.bandwidth_bytes_per_s);
    md << "| " << m.context << " | " << m.method << " | " << budget_text(m.budget) << " | "
       << fixed(s.ms_per_token.median, 2) << " | " << fixed(s.ms_per_token.min, 2) << "–" << fixed(s.ms_per_token.max, 2)
       << " | " << fixed(100.0 * s.ms_per_token.relative, 1) << "% | " << fixed(s.matmul_ms, 2) << " | "
       << fixed(s.attention_ms, 2) << " | " << fixed(s.selection_ms, 2) << " | " << fixed(s.rest_ms, 2) << " | "
       << (s.speedup ? fixed(*s.speedup, 2) + "x" : std::string("–")) << " | " << fixed(s.attended_rows, 1) << " | "
       << fixed(s.step_bytes / 1e6, 1) << " | " << (s.limit_ms ? fixed(*s.limit_ms, 2) : std::string("–")) << " | "
       << (s.limit_share ? fixed(100.0 * *s.limit_share, 0) + "%" : std::string("–")) << " | "
       << mib(m.kv_cache_bytes) << " |\n";
  }

  std::vector<std::string> policies;
  for (const BenchMeasurement& m : result.measurements) {
    if (m.method != "dense" && std::find(policies.begin(), policies.end(), m.policy) == policies.end()) {
      policies.push_back(m.policy);
    }
  }
  if (!policies.empty()) {
    md << "\nPolicies:\n";
    for (const std::string& policy : policies) md << "- " << policy << "\n";
  }
  return md.str();
}

std::string cpu_model_from_cpuinfo(const std::string& cpuinfo) {
  std::istringstream in(cpuinfo);
  std::string line;
  for (const char* key : {"model name", "Processor", "cpu model"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line)) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos || trim(line.substr(0, colon)) != key) continue;
      const std::string value = trim(line.substr(colon + 1));
      if (!value.empty()) return value;
    }
  }
  return "unknown";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  if (!in) return "unknown";
  return cpu_model_from_cpuinfo(std::string(std::istreambuf_iterator<char>(in), {}));
}

double load_average_from_loadavg(const std::string& loadavg) {
  try {
    size_t used = 0;
    const double value = std::stod(loadavg, &used);
    return used > 0 && value >= 0 ? value : -1.0;
  } catch (const std::exception&) {
    return -1.0;
  }
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  std::string text;
  if (!in || !std::getline(in, text)) return -1.0;
  return load_average_from_loadavg(text);
}

uint64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

uint64_t model_weight_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_regular_file(ec) && entry.path().extension() == ".safetensors") total += entry.file_size(ec);
    }
  }
  return total;
}

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace lim
