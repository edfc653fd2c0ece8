#include "eval/grading.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>
#include <vector>

namespace lim {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Index of the brace closing the one at `open`, skipping escaped braces; npos when unbalanced.
size_t matching_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
    } else if (s[i] == '{') {
      ++depth;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string::npos;
}

// The answer after a \boxed or \fbox command whose name ends before `pos`.
std::optional<std::string> boxed_argument(std::string_view text, size_t pos) {
  if (pos < text.size() && text[pos] == '{') {
    const size_t close = matching_brace(text, pos);
    if (close == std::string::npos) return std::nullopt;
    return std::string(text.substr(pos + 1, close - pos - 1));
  }
  // "\boxed 5": the token after the spaces.
  if (pos >= text.size() || !is_space(text[pos])) return std::nullopt;
  while (pos < text.size() && is_space(text[pos])) ++pos;
  size_t end = pos;
  while (end < text.size() && !is_space(text[end]) && text[end] != '$') ++end;
  if (end == pos) return std::nullopt;
  return std::string(text.substr(pos, end - pos));
}

// Replaces every \name{X} with X.
void unwrap_command(std::string& s, std::string_view name) {
  const std::string open = std::string(name) + "{";
  for (size_t pos = s.find(open); pos != std::string::npos; pos = s.find(open, pos)) {
    const size_t brace = pos + name.size();
    const size_t close = matching_brace(s, brace);
    if (close == std::string::npos) break;
    s = s.substr(0, pos) + s.substr(brace + 1, close - brace - 1) + s.substr(close + 1);
  }
}

// "\frac12" -> "\frac{1}{2}", "\sqrt2" -> "\sqrt{2}": single-character arguments get braces.
void brace_short_arguments(std::string& s, std::string_view command, int n_args) {
  for (size_t pos = s.find(command); pos != std::string::npos; pos = s.find(command, pos + 1)) {
    size_t i = pos + command.size();
    if (i < s.size() && is_alpha(s[i])) continue;  // a longer command name, e.g. \fracture
    for (int arg = 0; arg < n_args && i < s.size(); ++arg) {
      if (s[i] == '{') {
        const size_t close = matching_brace(s, i);
        if (close == std::string::npos) return;
        i = close + 1;
      } else if (s[i] == '[' || s[i] == '\\') {
        break;
      } else {
        s.insert(i + 1, "}");
        s.insert(i, "{");
        i += 3;
      }
    }
  }
}

// \begin{pmatrix} a & b \\ c & d \end{pmatrix} -> (a,b,c,d): matrices compare element by element.
void flatten_matrices(std::string& s) {
  for (const char* env : {"pmatrix", "bmatrix", "matrix"}) {
    const std::string begin = std::string("\\begin{") + env + "}";
    const std::string end = std::string("\\end{") + env + "}";
    const size_t b = s.find(begin);
    const size_t e = s.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b) continue;
    std::string inner = s.substr(b + begin.size(), e - b - begin.size());
    replace_all(inner, "\\\\", ",");
    replace_all(inner, "&", ",");
    s = s.substr(0, b) + "(" + inner + ")" + s.substr(e + end.size());
  }
}

// Drops unit words after a number: "18 dollars", "5 cm", "3 hours." (needs a space before them,
// so "2x" stays an expression).
void remove_unit_words(std::string& s) {
  size_t last_digit = std::string::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (is_digit(s[i])) last_digit = i;
  }
  if (last_digit == std::string::npos || last_digit + 1 >= s.size() || !is_space(s[last_digit + 1])) return;
  bool letters = false;
  for (size_t i = last_digit + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (is_alpha(c)) {
      letters = true;
    } else if (!is_space(c) && c != '.' && c != '^' && c != '2' && c != '3') {
      return;
    }
  }
  if (letters) s.resize(last_digit + 1);
}

bool is_grouped_integer(std::string_view s) {
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  size_t first = 0;
  while (i + first < s.size() && is_digit(s[i + first])) ++first;
  if (first == 0 || first > 3) return false;
  i += first;
  bool grouped = false;
  while (i < s.size() && s[i] == ',') {
    if (i + 4 > s.size() || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3])) return false;
    i += 4;
    grouped = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  return grouped && i == s.size();
}

// A recursive-descent evaluator for the expressions evaluate_expression accepts.
class Evaluator {
 public:
  Evaluator(std::string_view text, const double* vars) : s_(text), vars_(vars) {}

  std::optional<double> run() {
    const auto value = expr();
    if (!value || pos_ != s_.size() || !std::isfinite(*value)) return std::nullopt;
    return value;
  }

 private:
  bool eat(std::string_view token) {
    skip_spaces();
    if (s_.substr(pos_, token.size()) != token) return false;
    // A command must not continue with letters: "\pi" is not the start of "\pitchfork".
    if (token[0] == '\\' && pos_ + token.size() < s_.size() && is_alpha(s_[pos_ + token.size()])) return false;
    pos_ += token.size();
    return true;
  }
  void skip_spaces() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  char peek() {
    skip_spaces();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }

  std::optional<double> expr() {
    double sign = 1.0;
    if (eat("+")) sign = 1.0;
    else if (eat("-")) sign = -1.0;
    auto value = term();
    if (!value) return std::nullopt;
    double total = sign * *value;
    while (true) {
      if (eat("+")) sign = 1.0;
      else if (eat("-")) sign = -1.0;
      else return total;
      auto next = term();
      if (!next) return std::nullopt;
      total += sign * *next;
    }
  }

  bool starts_primary() {
    const char c = peek();
    if (is_digit(c) || c == '.' || c == '(' || c == '{' || (vars_ && is_alpha(c))) return true;
    return c == '\\' && (starts_with(s_.substr(pos_), "\\frac") || starts_with(s_.substr(pos_), "\\sqrt") ||
                         starts_with(s_.substr(pos_), "\\pi"));
  }

  std::optional<double> term() {
    auto value = power();
    if (!value) return std::nullopt;
    double total = *value;
    while (true) {
      bool divide = false;
      if (eat("*") || eat("\\cdot") || eat("\\times")) {
      } else if (eat("/") || eat("\\div")) {
        divide = true;
      } else if (!starts_primary()) {
        return total;
      }
      auto next = power();
      if (!next) return std::nullopt;
      total = divide ? total / *next : total * *next;
    }
  }

  std::optional<double> power() {
    if (eat("-")) {
      auto v = power();
      return v ? std::optional<double>(-*v) : std::nullopt;
    }
    auto base = primary();
    if (!base) return std::nullopt;
    if (!eat("^")) return base;
    auto exponent = argument();
    if (!exponent) return std::nullopt;
    return std::pow(*base, *exponent);
  }

  // A command argument: {expr}, or a single digit or letter.
  std::optional<double> argument() {
    if (eat("{")) return closed_by('}');
    if (eat("(")) return closed_by(')');
    const char c = peek();
    if (is_digit(c)) {
      ++pos_;
      return c - '0';
    }
    if (eat("-")) {
      auto v = argument();
      return v ? std::optional<double>(-*v) : std::nullopt;
    }
    if (vars_ && is_alpha(c)) {
      ++pos_;
      return variable(c);
    }
    if (eat("\\pi")) return std::numbers::pi;
    return std::nullopt;
  }

  std::optional<double> closed_by(char close) {
    auto value = expr();
    if (!value || peek() != close) return std::nullopt;
    ++pos_;
    return value;
  }

  std::optional<double> variable(char c) {
    const int index = std::tolower(static_cast<unsigned char>(c)) - 'a';
    if (index < 0 || index >= 26) return std::nullopt;
    return vars_[index];
  }

  std::optional<double> number() {
    const size_t start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    const std::string text(s_.substr(start, pos_ - start));
    if (text == "." || text.empty()) return std::nullopt;
    return std::stod(text);
  }

  std::optional<double> primary() {
    const char c = peek();
    if (is_digit(c) || c == '.') return number();
    if (eat("(")) return closed_by(')');
    if (eat("{")) return closed_by('}');
    if (eat("\\frac")) {
      auto num = argument();
      if (!num) return std::nullopt;
      auto den = argument();
      if (!den) return std::nullopt;
      return *num / *den;
    }
    if (eat("\\sqrt")) {
      double index = 2.0;
      if (eat("[")) {
        auto v = closed_by(']');
        if (!v) return std::nullopt;
        index = *v;
      }
      auto radicand = argument();
      if (!radicand || *radicand < 0) return std::nullopt;
      return std::pow(*radicand, 1.0 / index);
    }
    if (eat("\\pi")) return std::numbers::pi;
    if (vars_ && is_alpha(c)) {
      ++pos_;
      return variable(c);
    }
    return std::nullopt;
  }

  std::string_view s_;
  const double* vars_;
  size_t pos_ = 0;
};

bool close_enough(double a, double b) {
  return std::fabs(a - b) <= 1e-4 * std::max(std::fabs(a), std::fabs(b)) || std::fabs(a - b) <= 1e-9;
}

// A bracketed or bare comma-separated sequence: tuples, intervals, sets, lists of solutions.
struct Sequence {
  std::string open, close;  // "(" ")", "[" ")", "\{" "\}", or empty for a bare list
  std::vector<std::string> items;
};

// Splits at top-level commas (outside any bracket).
std::vector<std::string> split_top_level(std::string_view s) {
  std::vector<std::string> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if (c == ')' || c == ']' || c == '}') --depth;
    else if (c == ',' && depth == 0) {
      items.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  items.emplace_back(s.substr(start));
  return items;
}

// Whether the bracket at 0 closes at the last character (so it encloses the whole text).
bool encloses_all(std::string_view s) {
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && i + 1 < s.size()) return false;
  }
  return depth == 0;
}

std::optional<Sequence> as_sequence(const std::string& s) {
  Sequence seq;
  std::string inner = s;
  if (starts_with(s, "\\{") && s.size() >= 4 && s.ends_with("\\}")) {
    seq.open = "\\{";
    seq.close = "\\}";
    inner = s.substr(2, s.size() - 4);
  } else if (s.size() >= 2 && (s[0] == '(' || s[0] == '[') && (s.back() == ')' || s.back() == ']') &&
             encloses_all(s)) {
    seq.open = s.substr(0, 1);
    seq.close = s.substr(s.size() - 1);
    inner = s.substr(1, s.size() - 2);
  }
  seq.items = split_top_level(inner);
  if (seq.items.size() < 2) return std::nullopt;
  return seq;
}

bool atoms_equal(const std::string& a, const std::string& b);

bool sequences_equal(const Sequence& a, const Sequence& b) {
  if (a.items.size() != b.items.size()) return false;
  const bool a_set = a.open.empty() || a.open == "\\{";
  const bool b_set = b.open.empty() || b.open == "\\{";
  if (!a_set && !b_set) {
    // Tuples and intervals: the brackets and the order matter.
    if (a.open != b.open || a.close != b.close) return false;
    for (size_t i = 0; i < a.items.size(); ++i) {
      if (!atoms_equal(a.items[i], b.items[i])) return false;
    }
    return true;
  }
  // Sets and bare lists of solutions: any order.
  std::vector<bool> used(b.items.size(), false);
  for (const auto& item : a.items) {
    bool found = false;
    for (size_t j = 0; j < b.items.size() && !found; ++j) {
      if (!used[j] && atoms_equal(item, b.items[j])) used[j] = found = true;
    }
    if (!found) return false;
  }
  return true;
}

bool equal_as_functions(const std::string& a, const std::string& b) {
  // Values for the 26 letters at three assignments, distinct per letter so that x and y differ.
  for (int trial = 0; trial < 3; ++trial) {
    double vars[26];
    for (int i = 0; i < 26; ++i) vars[i] = 0.37 + 0.61 * i + 1.13 * trial + 0.071 * i * trial;
    const auto va = evaluate_expression(a, vars);
    const auto vb = evaluate_expression(b, vars);
    if (!va || !vb || !close_enough(*va, *vb)) return false;
  }
  return true;
}

bool lower_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Compares two normalized answers that are not sequences at the top level.
bool atoms_equal(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  const bool a_word = std::all_of(a.begin(), a.end(), is_alpha) && a.size() > 1;
  const bool b_word = std::all_of(b.begin(), b.end(), is_alpha) && b.size() > 1;
  if (a_word && b_word) return lower_equal(a, b);
  const auto va = evaluate_expression(a);
  const auto vb = evaluate_expression(b);
  if (va && vb) return close_enough(*va, *vb);
  if (va.has_value() != vb.has_value()) return false;
  // Equations compare side by side.
  const size_t ea = a.find('='), eb = b.find('=');
  if (ea != std::string::npos && eb != std::string::npos) {
    return atoms_equal(a.substr(0, ea), b.substr(0, eb)) && atoms_equal(a.substr(ea + 1), b.substr(eb + 1));
  }
  return equal_as_functions(a, b);
}

}  // namespace

std::optional<std::string> last_boxed(std::string_view text) {
  std::vector<size_t> ends;  // positions just after a command name
  for (std::string_view name : {"\\boxed", "\\fbox"}) {
    for (size_t pos = text.find(name); pos != std::string::npos; pos = text.find(name, pos + 1)) {
      ends.push_back(pos + name.size());
    }
  }
  std::sort(ends.rbegin(), ends.rend());
  for (size_t end : ends) {
    if (auto argument = boxed_argument(text, end)) return trim(*argument);
  }
  return std::nullopt;
}

ExtractedAnswer extract_answer(std::string_view response) {
  if (auto boxed = last_boxed(response)) return {*boxed, "boxed"};

  if (const size_t mark = response.rfind("####"); mark != std::string::npos) {
    std::string_view rest = response.substr(mark + 4);
    rest = rest.substr(0, rest.find('\n'));
    std::string answer = trim(rest);
    if (!answer.empty()) return {answer, "hash"};
  }

  std::string lower(response);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (const size_t mark = lower.rfind("answer is"); mark != std::string::npos) {
    std::string_view rest = response.substr(mark + 9);
    rest = rest.substr(0, rest.find('\n'));
    std::string answer = trim(rest);
    if (!answer.empty() && answer[0] == ':') answer = trim(answer.substr(1));
    if (const size_t stop = answer.find(". "); stop != std::string::npos) answer.resize(stop);
    while (!answer.empty() && (answer.back() == '.' || answer.back() == '$')) answer.pop_back();
    while (!answer.empty() && answer.front() == '$') answer.erase(0, 1);
    // "the answer is 8 * 2 = 16": the value is the last side of the equation.
    if (const size_t eq = answer.rfind('='); eq != std::string::npos) answer = answer.substr(eq + 1);
    answer = trim(answer);
    if (!answer.empty()) return {answer, "answer_is"};
  }

  // The last number, with its sign and thousands separators ("-1,234.5" -> "-1234.5").
  std::string last;
  for (size_t i = 0; i < response.size();) {
    if (!is_digit(response[i])) {
      ++i;
      continue;
    }
    const size_t start = (i > 0 && response[i - 1] == '-') ? i - 1 : i;
    std::string number;
    while (i < response.size() &&
           (is_digit(response[i]) ||
            ((response[i] == ',' || response[i] == '.') && i + 1 < response.size() && is_digit(response[i + 1])))) {
      if (response[i] != ',') number += response[i];
      ++i;
    }
    last = (start < i && response[start] == '-' ? "-" : "") + number;
  }
  if (!last.empty()) return {last, "last_number"};
  return {"", "none"};
}

std::string normalize_answer(std::string_view answer) {
  std::string s = trim(answer);
  if (auto boxed = last_boxed(s); boxed && starts_with(s, "\\boxed")) s = *boxed;
  replace_all(s, "\n", " ");
  replace_all(s, "\\!", "");
  flatten_matrices(s);
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "\\left", "");
  replace_all(s, "\\right", "");
  for (std::string_view degree : {"^{\\circ}", "^\\circ", "\\circ", "°", "\\degree"}) replace_all(s, degree, "");
  for (std::string_view mark : {"\\$", "$", "\\%", "%"}) replace_all(s, mark, "");
  // Units written as "\text{ cm}" after the value (Hendrycks' remove_right_units).
  for (std::string_view unit : {"\\text{ ", "\\mbox{ "}) {
    if (const size_t pos = s.find(unit); pos != std::string::npos && !trim(s.substr(0, pos)).empty()) s.resize(pos);
  }
  for (std::string_view command : {"\\text", "\\textbf", "\\mathrm", "\\mbox", "\\mathbf", "\\textit", "\\boxed"}) {
    unwrap_command(s, command);
  }
  for (std::string_view space : {"\\,", "\\;", "\\:", "\\ ", "\\quad", "\\qquad", "~"}) replace_all(s, space, " ");
  s = trim(s);
  if (s.ends_with(".")) s.pop_back();
  remove_unit_words(s);
  s.erase(std::remove_if(s.begin(), s.end(), is_space), s.end());
  while (s.ends_with(".")) s.pop_back();

  // "x=5" -> "5": a short left side names the unknown.
  if (const size_t eq = s.find('='); eq != std::string::npos && eq <= 2 && s.find('=', eq + 1) == std::string::npos &&
                                     eq > 0 && is_alpha(s[0])) {
    s = s.substr(eq + 1);
  }
  if (is_grouped_integer(s)) replace_all(s, ",", "");
  if (starts_with(s, ".")) s = "0" + s;
  if (starts_with(s, "-.")) s = "-0" + s.substr(1);
  brace_short_arguments(s, "\\frac", 2);
  brace_short_arguments(s, "\\sqrt", 1);
  // Mixed numbers: "2\frac{1}{2}" is two and a half, not a product.
  if (size_t f = s.find("\\frac{"); f != std::string::npos && f > 0 && is_digit(s[f - 1])) {
    size_t start = f;
    while (start > 0 && is_digit(s[start - 1])) --start;
    if (start == 0 || (start == 1 && s[0] == '-')) {
      const std::string whole = s.substr(start, f - start);
      const std::string sign = start == 1 ? "-" : "";
      s = sign + "(" + whole + "+" + s.substr(f) + ")";
    }
  }
  // "(C)" -> "C" for multiple-choice letters.
  if (s.size() == 3 && s[0] == '(' && s[2] == ')' && is_alpha(s[1])) s = s.substr(1, 1);
  return s;
}

std::optional<double> evaluate_expression(std::string_view text, const double* vars) {
  if (text.empty()) return std::nullopt;
  try {
    return Evaluator(text, vars).run();
  } catch (const std::exception&) {
    return std::nullopt;  // a number out of range for std::stod
  }
}

bool answers_equal(std::string_view predicted, std::string_view reference) {
  const std::string a = normalize_answer(predicted);
  const std::string b = normalize_answer(reference);
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  const auto sa = as_sequence(a);
  const auto sb = as_sequence(b);
  if (sa && sb) return sequences_equal(*sa, *sb);
  if (sa || sb) return false;
  if (atoms_equal(a, b)) return true;
  // A percentage may be given as its fraction: 50% matches 0.5.
  const bool percent = predicted.find('%') != std::string_view::npos || reference.find('%') != std::string_view::npos;
  if (percent) {
    const auto va = evaluate_expression(a);
    const auto vb = evaluate_expression(b);
    if (va && vb && (close_enough(*va, *vb * 100) || close_enough(*va * 100, *vb))) return true;
  }
  return false;
}

}  // namespace lim
