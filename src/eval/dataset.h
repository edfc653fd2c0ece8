// Benchmark problems: a JSONL loader, readers for the raw benchmark formats, and selection.
//
// The canonical schema is one JSON object per line:
//   {"id": "gsm8k-test-0", "problem": "...", "answer": "18", ...}
// `id` (string or integer) and `problem` (string) are required; `answer` is required and may be
// a string or a number. Every other field is kept as metadata (MATH-500's `level` and `subject`).
// Blank lines are skipped. The raw files of the shared benchmark copies are read as well; their
// format is recognised from the first record:
//   - GSM8K (`question`, `answer` ending in "#### N"): the answer is N without thousands
//     separators; the id is "<stem>-<line>" where the line number counts from 1.
//   - AIME-25 as QwQ ships it (`prompt`, `answer`): the reasoning instruction is removed from the
//     end of the prompt; the id is "<stem>-<line>".
//   - MATH-500 (`unique_id`, `problem`, `answer`, `level`, `subject`): the id is `unique_id`.
//   - AIME-24 (`id`, `problem`, `answer`) already fits the canonical schema.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lim {

struct Problem {
  std::string id;
  std::string problem;
  std::string answer;           // the reference answer, as text
  nlohmann::json metadata;      // the record's other fields (an object, possibly empty)
};

// Reads a JSONL file in the canonical schema or one of the raw formats above. Throws lim::Error
// naming the file and the line number for a line that is not JSON, a missing or mistyped field,
// or a duplicate id.
std::vector<Problem> load_problems(const std::string& path);

// Parses the JSONL text of a file (`source` names it in errors); load_problems reads the file and
// calls this.
std::vector<Problem> parse_problems(const std::string& text, const std::string& source);

// The shared data directory: data_dir when not empty, else $LIM_DATA_DIR, else the first
// `shared/data` folder found beside an ancestor of the executable's directory or of the current
// directory (the repository lives next to it: ../shared/data from the repository root). Throws
// lim::Error with the options to set when none is found.
std::string find_data_dir(const std::string& data_dir);

// Names the benchmark datasets known by name, e.g. "aime24", "aime25", "math500", "gsm8k".
const std::vector<std::string>& dataset_names();

// Resolves `--dataset`: a known name maps to its file under the data directory (looked up with
// find_data_dir(data_dir) only then); anything else is a path to a JSONL file. Throws lim::Error
// for an unknown name that is not an existing file.
std::string resolve_dataset(const std::string& name_or_path, const std::string& data_dir);

// The dataset's short name for records and reports: the known name, else the file stem.
std::string dataset_label(const std::string& name_or_path);

struct ProblemFilter {
  std::vector<std::string> ids;   // keep only these ids (dataset order); empty keeps all
  std::vector<int64_t> levels;    // keep only problems whose metadata `level` is listed
  std::optional<int64_t> limit;   // then keep the first `limit`
};

// Applies the filter. Throws lim::Error for an id that is not in the dataset, or for --levels on
// a dataset whose problems have no `level`.
std::vector<Problem> select_problems(const std::vector<Problem>& problems, const ProblemFilter& filter);

}  // namespace lim
