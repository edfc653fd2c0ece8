// `lim recall`: attention recall of several methods and budgets on one token trace.
//
// The trace is decoded once with dense attention, or read from a file. Every method and budget
// then replays it with teacher forcing, so all of them get identical contexts. Outputs, under
// --out-dir: trace.json and trace.txt, recall.csv (per step and layer), summary.md, and PNG plots
// of the running-average recall against decode step (one per budget) and of recall against
// budget. Progress goes to stderr; the summary is also printed to stdout.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "engine/model.h"
#include "engine/policy_recall.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "eval/plot.h"

namespace lim::cli {

namespace {

struct RecallOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  PromptOptions prompt_options;
  PolicyOptions policy;  // everything but method and budget, which the lists below give
  SessionOptions session;
  std::vector<std::string> methods = {"dense", "lessismore", "tidal", "quest", "streaming", "oracle"};
  std::vector<int64_t> budgets = {64, 128, 256, 512};
  int64_t max_tokens = 1200;
  bool ignore_eos = false;
  std::string trace_in;
  std::string replay = "shared";  // "shared": one dense pass for all; "separate": one pass each
  std::string out_dir = "recall-out";
  std::string summary_out;
  int threads = 0;
  float temperature = 0.6f;
  int64_t top_k = 20;
  float top_p = 0.95f;
  uint64_t seed = 0;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot write '" + path + "'; check that the directory is writable.");
  out << text;
}

// Decodes one response with dense attention and the sampling options. With ignore_eos the
// end-of-generation tokens are masked, so the trace always reaches max_tokens.
TokenTrace record_trace(const Model& model, ThreadPool& pool, const std::vector<int32_t>& prompt,
                        const RecallOptions& o) {
  const Tokenizer& tokenizer = model.tokenizer();
  const int64_t n_vocab = model.config().n_vocab;
  TokenTrace trace;
  trace.prompt = prompt;
  Session session(model, static_cast<int64_t>(prompt.size()) + o.max_tokens, pool, nullptr, o.session);
  Sampler sampler(SamplerParams{o.temperature, o.top_k, o.top_p, o.seed}, n_vocab);
  std::vector<float> logits(static_cast<size_t>(n_vocab));

  const float* next = session.prefill(prompt);
  while (static_cast<int64_t>(trace.generated.size()) < o.max_tokens) {
    std::copy(next, next + n_vocab, logits.begin());
    if (o.ignore_eos) {
      for (int32_t id = 0; id < n_vocab; ++id) {
        if (tokenizer.is_end_of_generation(id)) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
      }
    }
    const int32_t token = sampler.sample(logits.data());
    trace.generated.push_back(token);
    if (tokenizer.is_end_of_generation(token)) break;
    const int64_t n = static_cast<int64_t>(trace.generated.size());
    if (n % 100 == 0) std::fprintf(stderr, "lim: trace: %lld/%lld tokens\n", static_cast<long long>(n), static_cast<long long>(o.max_tokens));
    if (n < o.max_tokens) next = session.decode(token);
  }
  return trace;
}

void save_trace(const std::string& path, const TokenTrace& trace, const RecallOptions& o) {
  nlohmann::json j;
  j["model"] = o.model;
  j["temperature"] = o.temperature;
  j["top_k"] = o.top_k;
  j["top_p"] = o.top_p;
  j["seed"] = o.seed;
  j["prompt"] = trace.prompt;
  j["generated"] = trace.generated;
  write_text(path, j.dump() + "\n");
}

// Reads a trace written by save_trace: a JSON object with "prompt" and "generated" token ids.
TokenTrace load_trace(const std::string& path, int64_t n_vocab) {
  TokenTrace trace;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_text_file(path, "trace file"));
    trace.prompt = j.at("prompt").get<std::vector<int32_t>>();
    trace.generated = j.at("generated").get<std::vector<int32_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("trace file '" + path + "' is not a trace JSON object with \"prompt\" and \"generated\" token ids (" +
                e.what() + ").");
  }
  for (const auto* ids : {&trace.prompt, &trace.generated}) {
    for (int32_t id : *ids) {
      if (id < 0 || id >= n_vocab) {
        throw Error("trace file '" + path + "' contains token id " + std::to_string(id) + ", outside this model's vocabulary of " +
                    std::to_string(n_vocab) + "; was it written for another model?");
      }
    }
  }
  if (trace.prompt.empty()) throw Error("trace file '" + path + "' has an empty prompt.");
  return trace;
}

std::string fixed(double value, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

struct RunResult {
  RecallRun run;
  RecallSummary summary;
};

// The Markdown summary: recall and attended rows per method (rows) and budget (columns).
std::string summary_markdown(const std::vector<RunResult>& results, const RecallOptions& o, const TokenTrace& trace,
                             const std::vector<int64_t>& layers) {
  std::ostringstream md;
  md << "Trace: " << trace.prompt.size() << " prompt tokens, " << trace.generated.size() << " generated tokens. Replay: "
     << (o.replay == "shared" ? "shared (every method selects from one dense replay's queries and keys)"
                              : "separate (each method replays the trace with its own sparse attention)")
     << ". KV cache: " << dtype_name(o.session.kv_type) << ".\n";
  md << "Recall: full-attention softmax mass inside each head's attended rows, averaged over heads and over layers";
  for (size_t i = 0; i < layers.size(); ++i) md << (i ? "," : " ") << layers[i];
  md << ", then over the decode steps whose context exceeds the budget.\n\n";

  auto table = [&](const char* title, auto cell) {
    md << "| " << title << " |";
    for (int64_t k : o.budgets) md << " K=" << k << " |";
    md << "\n| --- |";
    for (size_t i = 0; i < o.budgets.size(); ++i) md << " --- |";
    md << "\n";
    for (const std::string& method : o.methods) {
      md << "| " << method << " |";
      for (int64_t k : o.budgets) {
        const RunResult* hit = nullptr;
        for (const RunResult& r : results) {
          if (r.run.method == method && (method == "dense" || r.run.budget == k)) hit = &r;
        }
        md << " " << (hit ? cell(*hit, k) : std::string("-")) << " |";
      }
      md << "\n";
    }
    md << "\n";
  };
  const auto& layer_set = layers;
  table("recall", [&](const RunResult& r, int64_t k) {
    return fixed(r.run.method == "dense" ? summarize_recall(r.run, layer_set, k).mean_recall : r.summary.mean_recall, 4);
  });
  table("rows attended per head", [&](const RunResult& r, int64_t k) {
    return fixed(r.run.method == "dense" ? summarize_recall(r.run, layer_set, k).mean_attended : r.summary.mean_attended, 1);
  });
  table("steps measured", [&](const RunResult& r, int64_t k) {
    return std::to_string(r.run.method == "dense" ? summarize_recall(r.run, layer_set, k).n_steps : r.summary.n_steps);
  });

  md << "| run | policy | replay seconds |\n| --- | --- | --- |\n";
  for (const RunResult& r : results) {
    md << "| " << r.run.method << (r.run.method == "dense" ? "" : " K=" + std::to_string(r.run.budget)) << " | "
       << r.run.description << " | " << fixed(r.run.seconds, 1) << " |\n";
  }
  return md.str();
}

void append_csv(std::ofstream& csv, const RecallRun& run) {
  for (const RecallSample& s : run.samples) {
    csv << run.method << ',' << run.budget << ',' << s.step << ',' << s.layer << ',' << s.n_kv << ',' << s.recall << ','
        << s.attended << '\n';
  }
  csv.flush();
}

void write_plots(const std::vector<RunResult>& results, const RecallOptions& o, const std::vector<int64_t>& layers) {
  const std::filesystem::path dir(o.out_dir);
  for (int64_t k : o.budgets) {
    PlotSpec spec;
    spec.title = "Running-average attention recall, K = " + std::to_string(k);
    spec.x_label = "decode step";
    spec.y_label = "running-average recall";
    spec.points = false;
    for (const RunResult& r : results) {
      if (r.run.method != "dense" && r.run.budget != k) continue;
      const std::vector<StepRecall> steps = step_recall(r.run, layers, k);
      std::vector<double> recall;
      PlotSeries series{r.run.method, {}, {}};
      for (const StepRecall& s : steps) {
        series.x.push_back(static_cast<double>(s.step));
        recall.push_back(s.recall);
      }
      series.y = running_average(recall);
      spec.series.push_back(std::move(series));
    }
    write_plot_png(spec, (dir / ("recall-running-K" + std::to_string(k) + ".png")).string());
  }

  PlotSpec by_budget;
  by_budget.title = "Attention recall against budget";
  by_budget.x_label = "budget K (tokens)";
  by_budget.y_label = "mean recall";
  by_budget.log_x = true;
  for (const std::string& method : o.methods) {
    PlotSeries series{method, {}, {}};
    for (int64_t k : o.budgets) {
      for (const RunResult& r : results) {
        if (r.run.method != method || (method != "dense" && r.run.budget != k)) continue;
        series.x.push_back(static_cast<double>(k));
        series.y.push_back(summarize_recall(r.run, layers, k).mean_recall);
      }
    }
    if (!series.x.empty()) by_budget.series.push_back(std::move(series));
  }
  write_plot_png(by_budget, (dir / "recall-vs-budget.png").string());

  // Recall per layer at the smallest budget, where methods differ most.
  const int64_t k = *std::min_element(o.budgets.begin(), o.budgets.end());
  PlotSpec by_layer;
  by_layer.title = "Attention recall per layer, K = " + std::to_string(k);
  by_layer.x_label = "layer";
  by_layer.y_label = "mean recall";
  for (const RunResult& r : results) {
    if (r.run.method != "dense" && r.run.budget != k) continue;
    const RecallSummary s = summarize_recall(r.run, layers, k);
    PlotSeries series{r.run.method, {}, s.layer_recall};
    for (int64_t il : layers) series.x.push_back(static_cast<double>(il));
    by_layer.series.push_back(std::move(series));
  }
  write_plot_png(by_layer, (dir / ("recall-by-layer-K" + std::to_string(k) + ".png")).string());
}

void check_methods(const std::vector<std::string>& methods) {
  for (const std::string& m : methods) {
    if (std::find(policy_names().begin(), policy_names().end(), m) == policy_names().end()) {
      std::string names;
      for (const auto& n : policy_names()) names += (names.empty() ? "" : ", ") + n;
      throw Error("--methods: '" + m + "' is not a method; use some of: " + names + ".");
    }
  }
}

int run_recall(RecallOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  check_methods(o.methods);
  if (o.budgets.empty()) throw Error("--budgets is empty; give at least one budget.");
  std::filesystem::create_directories(o.out_dir);

  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();
  ThreadPool pool(o.threads);

  TokenTrace trace;
  if (!o.trace_in.empty()) {
    trace = load_trace(o.trace_in, c.n_vocab);
    std::fprintf(stderr, "lim: read a trace of %zu prompt and %zu generated tokens from %s\n", trace.prompt.size(),
                 trace.generated.size(), o.trace_in.c_str());
  } else {
    const std::string text = !o.prompt.empty() ? o.prompt : !o.prompt_file.empty() ? read_text_file(o.prompt_file, "prompt file") : "";
    if (text.empty()) throw Error("give the prompt with --prompt or --prompt-file, or a recorded trace with --trace.");
    const std::vector<int32_t> prompt = encode_prompt(model->tokenizer(), text, o.prompt_options);
    std::fprintf(stderr, "lim: recording a trace of up to %lld tokens with dense attention (%s, %zu prompt tokens)\n",
                 static_cast<long long>(o.max_tokens), c.name.c_str(), prompt.size());
    trace = record_trace(*model, pool, prompt, o);
    save_trace((std::filesystem::path(o.out_dir) / "trace.json").string(), trace, o);
    write_text((std::filesystem::path(o.out_dir) / "trace.txt").string(), model->tokenizer().decode(trace.generated));
    std::fprintf(stderr, "lim: trace has %zu generated tokens\n", trace.generated.size());
  }

  const std::vector<int64_t> layers = recall_report_layers(o.policy, c);
  std::ofstream csv(std::filesystem::path(o.out_dir) / "recall.csv");
  if (!csv) throw Error("cannot write recall.csv in '" + o.out_dir + "'; check that the directory is writable.");
  csv << "method,budget,step,layer,n_kv,recall,attended\n";
  csv.precision(7);

  // Dense runs once, from the smallest budget's context on; each other method once per budget.
  std::vector<std::pair<std::string, int64_t>> plan;
  const int64_t k_min = *std::min_element(o.budgets.begin(), o.budgets.end());
  for (const std::string& m : o.methods) {
    if (m == "dense") {
      plan.emplace_back(m, k_min);
      continue;
    }
    for (int64_t k : o.budgets) plan.emplace_back(m, k);
  }

  std::vector<RunResult> results;
  auto finish = [&](RecallRun run, const std::string& label) {
    RunResult result;
    result.run = std::move(run);
    result.summary = summarize_recall(result.run, layers, result.run.budget);
    std::fprintf(stderr, "lim: %s: recall %.4f over %lld steps\n", label.c_str(), result.summary.mean_recall,
                 static_cast<long long>(result.summary.n_steps));
    append_csv(csv, result.run);
    results.push_back(std::move(result));
    // Rewritten after every run, so an interrupted experiment still leaves a summary.
    write_text((std::filesystem::path(o.out_dir) / "summary.md").string(), summary_markdown(results, o, trace, layers));
  };
  auto options_for = [&](const std::pair<std::string, int64_t>& entry) {
    PolicyOptions options = o.policy;
    options.method = entry.first;
    options.budget = entry.second;
    return options;
  };
  auto label_of = [](const PolicyOptions& p) {
    return p.method + (p.method == "dense" ? "" : " K=" + std::to_string(p.budget));
  };

  if (o.replay == "shared") {
    std::vector<PolicyOptions> all;
    for (const auto& entry : plan) all.push_back(options_for(entry));
    std::fprintf(stderr, "lim: measuring %zu method and budget pairs on one dense replay\n", all.size());
    std::vector<RecallRun> runs = replay_recall_shared(*model, pool, trace, all, [](int64_t done, int64_t total) {
      std::fprintf(stderr, "lim: shared replay: %lld/%lld\n", static_cast<long long>(done), static_cast<long long>(total));
    }, 100, o.session);
    std::fprintf(stderr, "lim: shared replay took %.1f s\n", runs.front().seconds);
    for (size_t i = 0; i < runs.size(); ++i) finish(std::move(runs[i]), label_of(all[i]));
  } else {
    for (size_t i = 0; i < plan.size(); ++i) {
      const PolicyOptions options = options_for(plan[i]);
      const std::string label = "[" + std::to_string(i + 1) + "/" + std::to_string(plan.size()) + "] " + label_of(options);
      RecallRun run = replay_recall(*model, pool, trace, options, [&](int64_t done, int64_t total) {
        std::fprintf(stderr, "lim: %s: %lld/%lld\n", label.c_str(), static_cast<long long>(done), static_cast<long long>(total));
      }, 100, o.session);
      std::fprintf(stderr, "lim: %s: replay took %.1f s\n", label.c_str(), run.seconds);
      finish(std::move(run), label);
    }
  }

  const std::string summary = summary_markdown(results, o, trace, layers);
  if (!o.summary_out.empty()) write_text(o.summary_out, summary);
  std::fwrite(summary.data(), 1, summary.size(), stdout);
  write_plots(results, o, layers);
  std::fprintf(stderr, "lim: wrote recall.csv, summary.md and plots to %s\n", o.out_dir.c_str());
  return 0;
}

std::function<int()> add_recall_command(CLI::App& app) {
  auto options = std::make_shared<RecallOptions>();
  RecallOptions& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "recall", "Measure attention recall of several methods and budgets on one trace, replayed with teacher forcing");

  cmd->add_option("-m,--model", o.model, "GGUF model file (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  auto* prompt = cmd->add_option("-p,--prompt", o.prompt, "Prompt to decode the trace from");
  cmd->add_option("-f,--prompt-file", o.prompt_file, "Read the prompt from this file")->excludes(prompt);
  cmd->add_option("--trace", o.trace_in, "Replay this trace (trace.json of an earlier run) instead of decoding one");
  add_chat_options(cmd, o.prompt_options);
  cmd->add_option("--methods", o.methods, "Methods to replay, comma separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--budgets", o.budgets, "Budgets K, comma separated")->delimiter(',')->capture_default_str()->check(at_least(1));
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Tokens to generate for the trace")->capture_default_str()->check(at_least(1));
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Mask end-of-generation tokens so the trace reaches --max-tokens");
  cmd->add_option("--replay", o.replay,
                  "shared: every method selects from one dense replay's queries and keys (one pass); separate: "
                  "each method and budget replays the trace with its own sparse attention (one pass each)")
      ->capture_default_str()
      ->check(CLI::IsMember({"shared", "separate"}));
  cmd->add_option("-o,--out-dir", o.out_dir, "Directory for the trace, CSV, summary and plots")->capture_default_str();
  cmd->add_option("--summary", o.summary_out, "Also write the Markdown summary to this file");
  add_policy_options(cmd, o.policy);
  add_session_options(cmd, o.session);
  // Method and budget come from --methods and --budgets here.
  cmd->remove_option(cmd->get_option("--attention"));
  cmd->remove_option(cmd->get_option("--budget"));
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)")->check(at_least(0));
  cmd->add_option("--temperature", o.temperature, "Sampling temperature for the trace; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Sample from the k most likely tokens; 0 disables")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Sample from the smallest set of tokens whose probability reaches p")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed for sampling the trace and for --randomized-topk")->capture_default_str();

  return [options]() { return run_recall(*options); };
}

const CommandRegistrar kRecallCommand("recall", add_recall_command);

}  // namespace
}  // namespace lim::cli
