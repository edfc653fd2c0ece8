#include "eval/dataset.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unordered_set>

#include "common.h"

namespace lim {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";

enum class Format { Canonical, Gsm8k, Aime25Prompt, Math500 };

Format detect_format(const json& first) {
  if (first.contains("question") && !first.contains("problem")) return Format::Gsm8k;
  if (first.contains("prompt") && !first.contains("problem")) return Format::Aime25Prompt;
  if (first.contains("unique_id") && !first.contains("id")) return Format::Math500;
  return Format::Canonical;
}

[[noreturn]] void fail(const std::string& source, int64_t line, const std::string& message) {
  throw Error(source + ":" + std::to_string(line) + ": " + message);
}

// Returns the field as text: strings as they are, integers and other numbers in JSON form.
std::string required_text(const json& record, const char* field, bool allow_number, const std::string& source,
                          int64_t line) {
  auto it = record.find(field);
  if (it == record.end()) fail(source, line, std::string("missing field '") + field + "'");
  if (it->is_string()) return it->get<std::string>();
  if (allow_number && it->is_number()) return it->dump();
  fail(source, line, std::string("field '") + field + "' must be a " + (allow_number ? "string or number" : "string") +
                         ", not " + it->type_name());
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// GSM8K: the final answer follows "####"; separators such as 1,000 are removed.
std::string gsm8k_answer(const std::string& solution, const std::string& source, int64_t line) {
  const auto mark = solution.rfind("####");
  if (mark == std::string::npos) fail(source, line, "GSM8K answer has no '####' final answer");
  std::string answer;
  for (char c : trim(solution.substr(mark + 4))) {
    if (c != ',') answer += c;
  }
  return answer;
}

std::string strip_instruction(std::string prompt) {
  const std::string suffix = kInstruction;
  prompt = trim(prompt);
  if (prompt.size() >= suffix.size() && prompt.compare(prompt.size() - suffix.size(), suffix.size(), suffix) == 0) {
    prompt = trim(prompt.substr(0, prompt.size() - suffix.size()));
  }
  return prompt;
}

Problem to_problem(const json& record, Format format, const std::string& stem, const std::string& source,
                   int64_t line) {
  Problem p;
  std::set<std::string> consumed;
  switch (format) {
    case Format::Canonical:
      p.id = required_text(record, "id", true, source, line);
      p.problem = required_text(record, "problem", false, source, line);
      p.answer = required_text(record, "answer", true, source, line);
      consumed = {"id", "problem", "answer"};
      break;
    case Format::Gsm8k:
      p.id = stem + "-" + std::to_string(line);
      p.problem = required_text(record, "question", false, source, line);
      p.answer = gsm8k_answer(required_text(record, "answer", false, source, line), source, line);
      consumed = {"question", "answer"};
      break;
    case Format::Aime25Prompt:
      p.id = stem + "-" + std::to_string(line);
      p.problem = strip_instruction(required_text(record, "prompt", false, source, line));
      p.answer = required_text(record, "answer", true, source, line);
      consumed = {"prompt", "answer"};
      break;
    case Format::Math500:
      p.id = required_text(record, "unique_id", false, source, line);
      p.problem = required_text(record, "problem", false, source, line);
      p.answer = required_text(record, "answer", true, source, line);
      consumed = {"unique_id", "problem", "answer"};
      break;
  }
  p.metadata = json::object();
  for (const auto& [key, value] : record.items()) {
    if (!consumed.count(key)) p.metadata[key] = value;
  }
  return p;
}

bool is_data_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "normalized", ec) || fs::exists(dir / "SOURCES.md", ec);
}

// Looks for shared/data beside start and each of its ancestors.
std::optional<fs::path> search_upward(fs::path start) {
  std::error_code ec;
  start = fs::weakly_canonical(start, ec);
  for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
    if (is_data_dir(dir / "shared" / "data")) return dir / "shared" / "data";
    if (dir == dir.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace

std::vector<Problem> parse_problems(const std::string& text, const std::string& source) {
  const std::string stem = fs::path(source).stem().string();
  std::vector<Problem> problems;
  std::unordered_set<std::string> ids;
  std::optional<Format> format;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (trim(line).empty()) continue;

    json record;
    try {
      record = json::parse(line);
    } catch (const json::parse_error& e) {
      fail(source, line_no, std::string("not a JSON line: ") + e.what());
    }
    if (!record.is_object()) fail(source, line_no, "expected a JSON object, found " + std::string(record.type_name()));
    if (!format) format = detect_format(record);
    Problem p = to_problem(record, *format, stem, source, line_no);
    if (!ids.insert(p.id).second) fail(source, line_no, "duplicate id '" + p.id + "'");
    problems.push_back(std::move(p));
  }
  return problems;
}

std::vector<Problem> load_problems(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open dataset file '" + path + "'; check the path or --data-dir.");
  const std::string text(std::istreambuf_iterator<char>(in), {});
  return parse_problems(text, path);
}

std::string find_data_dir(const std::string& data_dir) {
  if (!data_dir.empty()) return data_dir;
  if (const char* env = std::getenv("LIM_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    if (auto found = search_upward(exe.parent_path())) return found->string();
  }
  if (auto found = search_upward(fs::current_path(ec))) return found->string();
  throw Error("cannot find the shared data directory (shared/data next to the repository); pass --data-dir DIR or set LIM_DATA_DIR.");
}

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {"aime24", "aime25", "math500", "gsm8k"};
  return names;
}

std::string resolve_dataset(const std::string& name_or_path, const std::string& data_dir) {
  // The normalized copies carry stable ids and string answers for every benchmark.
  static const std::vector<std::pair<std::string, std::string>> files = {
      {"aime24", "normalized/aime24.jsonl"},
      {"aime25", "normalized/aime25.jsonl"},
      {"math500", "normalized/math500.jsonl"},
      {"gsm8k", "normalized/gsm8k_test.jsonl"},
  };
  for (const auto& [name, file] : files) {
    if (name == name_or_path) return (fs::path(find_data_dir(data_dir)) / file).string();
  }
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  std::string names;
  for (const auto& name : dataset_names()) names += (names.empty() ? "" : ", ") + name;
  throw Error("--dataset '" + name_or_path + "' is neither a known dataset (" + names + ") nor a JSONL file.");
}

std::string dataset_label(const std::string& name_or_path) {
  for (const auto& name : dataset_names()) {
    if (name == name_or_path) return name;
  }
  return fs::path(name_or_path).stem().string();
}

std::vector<Problem> select_problems(const std::vector<Problem>& problems, const ProblemFilter& filter) {
  std::unordered_set<std::string> wanted(filter.ids.begin(), filter.ids.end());
  std::unordered_set<std::string> seen;
  const std::set<int64_t> levels(filter.levels.begin(), filter.levels.end());
  std::vector<Problem> selected;
  for (const Problem& p : problems) {
    if (!wanted.empty() && !wanted.count(p.id)) continue;
    seen.insert(p.id);
    if (!levels.empty()) {
      auto level = p.metadata.find("level");
      if (level == p.metadata.end() || !level->is_number_integer()) {
        throw Error("--levels needs problems with an integer 'level' field; problem '" + p.id + "' has none.");
      }
      if (!levels.count(level->get<int64_t>())) continue;
    }
    selected.push_back(p);
  }
  for (const std::string& id : filter.ids) {
    if (!seen.count(id)) throw Error("--ids: no problem with id '" + id + "' in the dataset.");
  }
  if (filter.limit && static_cast<int64_t>(selected.size()) > *filter.limit) selected.resize(*filter.limit);
  return selected;
}

}  // namespace lim
