// Answer extraction and equivalence for math benchmarks, after the common evaluation harnesses
// (Hendrycks MATH normalisation, Qwen2.5-Math's math_equal).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lim {

// The content of the last well-formed \boxed{...} or \fbox{...} in text (nested braces kept),
// or of the last "\boxed X" form (the token up to whitespace or '$'). nullopt when there is none.
std::optional<std::string> last_boxed(std::string_view text);

struct ExtractedAnswer {
  std::string answer;   // empty when nothing was found
  std::string method;   // "boxed", "hash" (#### N), "answer_is", "last_number" or "none"
};

// Extracts the final answer of a response: the last \boxed{} first, then the GSM8K forms
// "#### N" and "The answer is X", then the last number in the text.
ExtractedAnswer extract_answer(std::string_view response);

// Canonical text of an answer: LaTeX spacing, \left/\right, \dfrac/\tfrac, \text{} wrappers,
// dollar signs, degree and percent marks, trailing unit words, a leading "x =", thousands
// separators and whitespace removed. Two answers with the same canonical text are equal.
std::string normalize_answer(std::string_view answer);

// Evaluates a simple expression numerically: numbers, + - * / ^, parentheses and braces,
// \frac, \sqrt (with an optional index), \pi, \cdot, \times, \div, implicit multiplication, and
// single-letter variables given the values in `vars` ('a'..'z'; nullptr: variables not allowed).
// nullopt when the text is not such an expression.
std::optional<double> evaluate_expression(std::string_view text, const double* vars = nullptr);

// Whether a predicted answer matches the reference: equal canonical text, or equal value
// (relative tolerance 1e-4), or equal as expressions at several variable assignments, or
// element by element for tuples, intervals (brackets must match) and lists (any order).
bool answers_equal(std::string_view predicted, std::string_view reference);

}  // namespace lim
