#include "eval/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>

#include "common.h"
#include "eval/grading.h"
#include "eval/plot.h"
#include "eval/runner.h"

namespace lim {

using json = nlohmann::json;

namespace {

std::optional<int64_t> budget_of(const json& r) {
  if (!r.contains("budget") || r["budget"].is_null()) return std::nullopt;
  return r["budget"].get<int64_t>();
}

std::string text_field(const json& r, const char* field) {
  return r.contains(field) && r[field].is_string() ? r[field].get<std::string>() : std::string("?");
}

double number_field(const json& r, const char* field) {
  return r.contains(field) && r[field].is_number() ? r[field].get<double>() : 0.0;
}

// Accumulates the records of one row.
struct RowAccumulator {
  ReportRow row;
  std::map<std::string, std::pair<int64_t, int64_t>> per_problem;  // id -> (correct, samples)
  double length_sum = 0.0;
  double decode_seconds = 0.0;
  double decode_steps = 0.0;
  double attended_sum = 0.0;
  int64_t attended_count = 0;
  double recall_sum = 0.0;
  int64_t recall_count = 0;

  void add(const json& r) {
    auto& [correct, samples] = per_problem[text_field(r, "id")];
    correct += r.value("correct", false) ? 1 : 0;
    ++samples;
    ++row.samples;
    length_sum += number_field(r, "n_generated");
    decode_seconds += number_field(r, "decode_s");
    decode_steps += number_field(r, "n_decode_passes");
    if (r.contains("mean_attended") && r["mean_attended"].is_number()) {
      attended_sum += r["mean_attended"].get<double>();
      ++attended_count;
    }
    if (r.contains("recall") && r["recall"].is_number()) {
      recall_sum += r["recall"].get<double>();
      ++recall_count;
    }
  }

  ReportRow finish() const {
    ReportRow out = row;
    out.problems = static_cast<int64_t>(per_problem.size());
    double accuracy_sum = 0.0;
    for (const auto& [id, counts] : per_problem) accuracy_sum += static_cast<double>(counts.first) / counts.second;
    out.accuracy = out.problems > 0 ? accuracy_sum / static_cast<double>(out.problems) : 0.0;
    out.mean_length = out.samples > 0 ? length_sum / static_cast<double>(out.samples) : 0.0;
    if (decode_steps > 0) out.decode_ms_per_token = 1000.0 * decode_seconds / decode_steps;
    if (attended_count > 0) out.mean_attended = attended_sum / static_cast<double>(attended_count);
    if (recall_count > 0) out.recall = recall_sum / static_cast<double>(recall_count);
    return out;
  }
};

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string optional_fixed(const std::optional<double>& value, int decimals) {
  return value ? fixed(*value, decimals) : "–";
}

std::string budget_text(const std::optional<int64_t>& budget) { return budget ? std::to_string(*budget) : "–"; }

const ReportRow* dense_row_of(const std::vector<ReportRow>& rows, const ReportRow& row) {
  for (const ReportRow& r : rows) {
    if (r.method == "dense" && r.dataset == row.dataset && r.model == row.model) return &r;
  }
  return nullptr;
}

// File-name-safe form of a label.
std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

// The sparse rows of one dataset and model, one series per method, sorted by budget.
std::vector<std::pair<std::string, std::vector<const ReportRow*>>> sparse_series(const std::vector<const ReportRow*>& rows) {
  std::vector<std::pair<std::string, std::vector<const ReportRow*>>> series;
  for (const ReportRow* r : rows) {
    if (!r->budget) continue;
    auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.first == r->method; });
    if (it == series.end()) {
      series.push_back({r->method, {}});
      it = series.end() - 1;
    }
    it->second.push_back(r);
  }
  return series;
}

}  // namespace

MergedResults merge_results(const std::vector<std::string>& paths) {
  MergedResults merged;
  std::unordered_set<std::string> keys;
  for (const std::string& path : paths) {
    if (!std::filesystem::is_regular_file(path)) throw Error("results file '" + path + "' does not exist.");
    ResultsFile file = read_results(path);
    if (file.dropped_torn_line) ++merged.torn_lines;
    for (json& record : file.records) {
      if (keys.insert(record_key(record)).second) {
        merged.records.push_back(std::move(record));
      } else {
        ++merged.duplicates;
      }
    }
  }
  return merged;
}

int64_t regrade(std::vector<json>& records) {
  int64_t changed = 0;
  for (json& r : records) {
    const ExtractedAnswer extracted = extract_answer(r.value("text", std::string()));
    const bool correct = answers_equal(extracted.answer, r.value("reference", std::string()));
    if (r.value("correct", false) != correct) ++changed;
    r["extracted"] = extracted.answer;
    r["extraction"] = extracted.method;
    r["correct"] = correct;
  }
  return changed;
}

std::vector<ReportRow> summarize(const std::vector<json>& records) {
  // Key: (dataset, model) group order, then method order, then budget.
  std::vector<std::pair<std::string, std::string>> groups;
  std::vector<std::string> methods;
  std::map<std::tuple<size_t, size_t, int64_t>, RowAccumulator> rows;
  for (const json& r : records) {
    const std::pair<std::string, std::string> group{text_field(r, "dataset"), text_field(r, "model")};
    const std::string method = text_field(r, "method");
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) methods.push_back(method);
    const size_t g = std::find(groups.begin(), groups.end(), group) - groups.begin();
    // Dense sorts first; budgets ascend within a method.
    const size_t m = method == "dense" ? 0 : 1 + (std::find(methods.begin(), methods.end(), method) - methods.begin());
    const std::optional<int64_t> budget = budget_of(r);
    RowAccumulator& acc = rows[{g, m, budget.value_or(-1)}];
    acc.row.dataset = group.first;
    acc.row.model = group.second;
    acc.row.method = method;
    acc.row.budget = budget;
    acc.add(r);
  }
  std::vector<ReportRow> out;
  for (const auto& [key, acc] : rows) out.push_back(acc.finish());
  return out;
}

std::string markdown_table(const std::vector<ReportRow>& rows) {
  std::string table =
      "| dataset | method | budget | problems | samples | accuracy (%) | vs dense (pts) | gen. length (tokens) | "
      "length vs dense | decode ms/token | attended tokens | recall |\n"
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::set<std::string> models;
  for (const ReportRow& r : rows) models.insert(r.model);
  for (const ReportRow& r : rows) {
    const ReportRow* dense = dense_row_of(rows, r);
    const bool compare = dense && r.method != "dense";
    const std::string dataset = models.size() > 1 ? r.dataset + " (" + r.model + ")" : r.dataset;
    table += "| " + dataset + " | " + r.method + " | " + budget_text(r.budget) + " | " + std::to_string(r.problems) +
             " | " + std::to_string(r.samples) + " | " + fixed(100.0 * r.accuracy, 1) + " | " +
             (compare ? fixed(100.0 * (r.accuracy - dense->accuracy), 1) : "–") + " | " + fixed(r.mean_length, 1) +
             " | " + (compare && dense->mean_length > 0 ? fixed(r.mean_length / dense->mean_length, 2) + "x" : "–") +
             " | " + optional_fixed(r.decode_ms_per_token, 2) + " | " + optional_fixed(r.mean_attended, 1) + " | " +
             optional_fixed(r.recall, 3) + " |\n";
  }
  return table;
}

std::vector<std::string> write_report_plots(const std::vector<ReportRow>& rows, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create --plots directory '" + dir + "': " + ec.message());

  std::vector<std::pair<std::string, std::string>> groups;
  for (const ReportRow& r : rows) {
    if (std::find(groups.begin(), groups.end(), std::pair{r.dataset, r.model}) == groups.end()) {
      groups.push_back({r.dataset, r.model});
    }
  }
  std::set<std::string> models;
  for (const ReportRow& r : rows) models.insert(r.model);

  std::vector<std::string> written;
  for (const auto& [dataset, model] : groups) {
    std::vector<const ReportRow*> mine;
    for (const ReportRow& r : rows) {
      if (r.dataset == dataset && r.model == model) mine.push_back(&r);
    }
    const ReportRow* dense = dense_row_of(rows, *mine.front());
    const auto series = sparse_series(mine);
    const std::string prefix =
        (std::filesystem::path(dir) / slug(models.size() > 1 ? dataset + "_" + model : dataset)).string();
    const std::string title = dataset + (models.size() > 1 ? " (" + model + ")" : "");

    double min_budget = 0, max_budget = 0;
    for (const auto& [method, points] : series) {
      for (const ReportRow* r : points) {
        const double b = static_cast<double>(*r->budget);
        min_budget = (min_budget == 0 || b < min_budget) ? b : min_budget;
        max_budget = std::max(max_budget, b);
      }
    }

    // Budget plots: one series per sparse method, dense as a flat reference line.
    auto budget_plot = [&](const std::string& name, const std::string& y_label, auto value) {
      if (series.empty()) return;
      PlotSpec spec;
      spec.title = title + ": " + y_label + " against budget";
      spec.x_label = "token budget K";
      spec.y_label = y_label;
      spec.log_x = max_budget >= 4 * min_budget;
      for (const auto& [method, points] : series) {
        PlotSeries s{method, {}, {}};
        for (const ReportRow* r : points) {
          s.x.push_back(static_cast<double>(*r->budget));
          s.y.push_back(value(*r));
        }
        spec.series.push_back(std::move(s));
      }
      if (dense) spec.series.push_back({"dense", {min_budget, max_budget}, {value(*dense), value(*dense)}});
      const std::string path = prefix + "_" + name + ".png";
      write_plot_png(spec, path);
      written.push_back(path);
    };
    budget_plot("accuracy_vs_budget", "accuracy (%)", [](const ReportRow& r) { return 100.0 * r.accuracy; });
    budget_plot("length_vs_budget", "generation length (tokens)", [](const ReportRow& r) { return r.mean_length; });

    // Accuracy against decode latency: every row with a latency is a point.
    PlotSpec latency;
    latency.title = title + ": accuracy against decode latency";
    latency.x_label = "decode latency (ms/token)";
    latency.y_label = "accuracy (%)";
    for (const auto& [method, points] : series) {
      PlotSeries s{method, {}, {}};
      std::vector<const ReportRow*> sorted = points;
      std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
        return a->decode_ms_per_token.value_or(0) < b->decode_ms_per_token.value_or(0);
      });
      for (const ReportRow* r : sorted) {
        if (!r->decode_ms_per_token) continue;
        s.x.push_back(*r->decode_ms_per_token);
        s.y.push_back(100.0 * r->accuracy);
      }
      if (!s.x.empty()) latency.series.push_back(std::move(s));
    }
    if (dense && dense->decode_ms_per_token) {
      latency.series.push_back({"dense", {*dense->decode_ms_per_token}, {100.0 * dense->accuracy}});
    }
    if (!latency.series.empty()) {
      const std::string path = prefix + "_accuracy_vs_latency.png";
      write_plot_png(latency, path);
      written.push_back(path);
    }
  }
  return written;
}

}  // namespace lim
