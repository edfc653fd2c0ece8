#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "eval/grading.h"

namespace lim {
namespace {

struct AnswerPair {
  const char* predicted;
  const char* reference;
  bool equal;
};

// Answer pairs as math benchmarks produce them: the predicted answer (already extracted from the
// response), the reference, and whether a harness counts them as the same answer.
const std::vector<AnswerPair> kPairs = {
    // Integers: leading zeros, signs, thousands separators, trailing zeros.
    {"25", "25", true},
    {"025", "25", true},
    {"25", "025", true},
    {"007", "7", true},
    {"1,000", "1000", true},
    {"1000", "1,000", true},
    {"12,345,678", "12345678", true},
    {"-1,234", "-1234", true},
    {"1,000", "100", false},
    {"18", "-18", false},
    {"+5", "5", true},
    {"0", "-0", true},
    {"24", "42", false},
    {"100", "1000", false},
    {"204", "240", false},
    {"70", "70.0", true},
    {"70.00", "70", true},
    {"2", "2.5", false},
    // Decimals.
    {"0.5", ".5", true},
    {"-.5", "-0.5", true},
    {"3.14", "3.14", true},
    {"3.14", "3.15", false},
    {"0.15", "0.150", true},
    {"0.333", "1/3", false},
    {"0.3333333", "\\frac{1}{3}", true},
    {"1.5", "\\frac{3}{2}", true},
    {"2.25", "\\frac94", true},
    {"1e3", "1000", false},
    // Fractions in every spelling.
    {"\\frac{1}{2}", "0.5", true},
    {"\\dfrac{1}{2}", "\\frac{1}{2}", true},
    {"\\tfrac{1}{2}", "\\frac12", true},
    {"\\frac12", "\\frac{1}{2}", true},
    {"1/2", "\\frac{1}{2}", true},
    {"2/4", "\\frac{1}{2}", true},
    {"\\frac{4}{3}", "\\frac43", true},
    {"\\frac{6}{5}", "\\frac65", true},
    {"\\frac{13}{15}", "\\frac{13}{15}", true},
    {"\\frac{3}{4}", "\\frac{4}{3}", false},
    {"\\frac{1}{2}", "\\frac{1}{3}", false},
    {"-\\frac{1}{2}", "\\frac{-1}{2}", true},
    {"\\frac{-1}{2}", "-0.5", true},
    {"\\frac{1}{2}", "-\\frac{1}{2}", false},
    {"2\\frac{1}{2}", "\\frac{5}{2}", true},
    {"6\\frac{1}{4}", "6.25", true},
    {"2\\frac{1}{2}", "1", false},
    {"\\frac{\\frac{1}{2}}{2}", "\\frac14", true},
    // Roots and pi.
    {"\\sqrt{51}", "\\sqrt{51}", true},
    {"\\sqrt5", "\\sqrt{5}", true},
    {"\\sqrt51", "\\sqrt{51}", false},  // LaTeX reads \sqrt51 as \sqrt{5} times 1
    {"\\sqrt{2}", "1.41421356", true},
    {"\\sqrt{2}", "\\sqrt{3}", false},
    {"2\\sqrt{3}", "\\sqrt{12}", true},
    {"\\sqrt{12}", "2\\sqrt3", true},
    {"-\\sqrt{3}", "-\\sqrt3", true},
    {"\\sqrt{3}", "-\\sqrt{3}", false},
    {"\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", true},
    {"\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", true},
    {"\\sqrt[3]{8}", "2", true},
    {"3\\sqrt{2}", "\\sqrt{18}", true},
    {"\\pi", "3.14159265", true},
    {"\\frac{\\pi}{2}", "\\frac{\\pi}2", true},
    {"2\\pi", "\\pi", false},
    {"-\\frac{\\pi}{6}", "-\\frac{\\pi}{6}", true},
    {"\\frac{\\pi}{6}", "-\\frac{\\pi}{6}", false},
    {"4\\pi", "4 \\pi", true},
    {"\\frac{3\\pi}{4}", "\\frac34\\pi", true},
    {"\\pi^2", "\\pi \\cdot \\pi", true},
    // Powers and products.
    {"2^{10}", "1024", true},
    {"2^3", "8", true},
    {"3 \\times 4", "12", true},
    {"3\\cdot 4", "12", true},
    {"12 \\div 4", "3", true},
    {"10^{-2}", "0.01", true},
    {"2^{10}", "1000", false},
    // Percentages.
    {"50\\%", "50", true},
    {"50%", "50", true},
    {"50", "50\\%", true},
    {"0.5", "50\\%", true},
    {"25\\%", "0.25", true},
    {"50\\%", "5", false},
    {"12.5\\%", "12.5", true},
    // Degrees and units.
    {"30^\\circ", "30", true},
    {"30^{\\circ}", "30^\\circ", true},
    {"180^\\circ", "180", true},
    {"90°", "90", true},
    {"30^\\circ", "60^\\circ", false},
    {"18 dollars", "18", true},
    {"5 cm", "5", true},
    {"10\\text{ inches}", "10", true},
    {"10 \\text{ cm}^2", "10", true},
    {"\\$18", "18", true},
    {"\\$18.00", "18", true},
    {"$18", "18", true},
    {"3 hours.", "3", true},
    {"4 apples", "5", false},
    {"\\$1,250", "1250", true},
    // Text answers.
    {"\\text{Evelyn}", "\\text{Evelyn}", true},
    {"Evelyn", "\\text{Evelyn}", true},
    {"evelyn", "\\text{Evelyn}", true},
    {"\\text{east}", "\\text{east}", true},
    {"\\text{west}", "\\text{east}", false},
    {"\\textbf{even}", "\\text{even}", true},
    {"\\text{odd}", "\\text{even}", false},
    {"\\text{(E)}", "E", true},
    {"(C)", "\\text{(C)}", true},
    {"C", "\\text{(C)}", true},
    {"B", "\\text{(C)}", false},
    {"\\mathrm{A}", "A", true},
    // Spacing and \left / \right.
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", true},
    {"(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", true},
    {"( 3 , 1.5708 )", "\\left( 3, \\frac{\\pi}{2} \\right)", true},
    {"(3, \\pi)", "\\left( 3, \\frac{\\pi}{2} \\right)", false},
    {"x^5 - x^4 + x^3 - x^2 + x - 1", "x^5-x^4+x^3-x^2+x-1", true},
    {"1\\,000", "1000", true},
    {"5\\!", "5", true},
    {"\\ 7", "7", true},
    // Intervals: brackets matter.
    {"[1, 2)", "[1,2)", true},
    {"(1, 2]", "[1, 2)", false},
    {"(1,2)", "[1,2]", false},
    {"\\left[ -2, 5 \\right]", "[-2,5]", true},
    {"(-\\infty, 3)", "(-\\infty,3)", true},
    {"(-\\infty, 3]", "(-\\infty,3)", false},
    {"[0.5, 1]", "[\\frac12, 1]", true},
    // Tuples: order matters.
    {"(15,-29)", "(15, -29)", true},
    {"(-29,15)", "(15, -29)", false},
    {"(-1,6)", "\\left(-1, 6\\right)", true},
    {"\\left( \\frac{3}{2}, -13 \\right)", "(1.5,-13)", true},
    {"(1,2,3)", "(1,2)", false},
    {"(2, 3, 5)", "(2, 3, 5)", true},
    // Lists of solutions and sets: any order.
    {"3, 5, 7", "3, 5, 7", true},
    {"7, 5, 3", "3, 5, 7", true},
    {"3, 5", "3, 5, 7", false},
    {"3,5,8", "3, 5, 7", false},
    {"\\{1, 2\\}", "\\{2, 1\\}", true},
    {"-1, \\frac{1}{2}", "\\frac12, -1", true},
    {"x = 1, x = 2", "1, 2", false},
    // Matrices and vectors.
    {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", true},
    {"\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", true},
    {"\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", false},
    // Equations with the unknown named.
    {"x = 5", "5", true},
    {"x=5", "x = 5", true},
    {"k = 3", "3", true},
    {"x = 5", "6", false},
    {"y = 2x + 3", "y=2x+3", true},
    {"y = 3 + 2x", "y = 2x + 3", true},
    {"y = 2x + 4", "y = 2x + 3", false},
    // Simple symbolic equality.
    {"2k+2", "2(k+1)", true},
    {"2k+2", "2k+1", false},
    {"(a+5)(b+2)", "(b+2)(a+5)", true},
    {"ab+2a+5b+10", "(a+5)(b+2)", true},
    {"(a+5)(b+2)", "(a+2)(b+5)", false},
    {"x^2+2x+1", "(x+1)^2", true},
    {"x^2-1", "(x-1)(x+1)", true},
    {"x^2+1", "(x+1)^2", false},
    {"\\frac{x}{2}", "0.5x", true},
    {"-2 + 7i", "7i - 2", true},
    {"-2 + 7i", "-2 - 7i", false},
    {"x", "y", false},
    {"2x", "x2", true},
    {"\\frac{1}{x+1}", "(x+1)^{-1}", true},
    // Other answers that compare as text.
    {"40_9", "40_9", true},
    {"40_9", "41_9", false},
    {"\\cot x", "\\cot x", true},
    {"\\infty", "\\infty", true},
    {"\\emptyset", "\\varnothing", false},
    // Boxed leftovers and empties.
    {"\\boxed{5}", "5", true},
    {"", "5", false},
    {"5", "", false},
    {"   ", "0", false},
};

TEST(Grading, AnswerPairTable) {
  ASSERT_GE(kPairs.size(), 150u);
  for (const AnswerPair& pair : kPairs) {
    EXPECT_EQ(answers_equal(pair.predicted, pair.reference), pair.equal)
        << "predicted '" << pair.predicted << "', reference '" << pair.reference << "', normalized '"
        << normalize_answer(pair.predicted) << "' and '" << normalize_answer(pair.reference) << "'";
  }
}

TEST(Grading, LastBoxedKeepsNestedBraces) {
  EXPECT_EQ(last_boxed("first \\boxed{1} then \\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  EXPECT_EQ(last_boxed("so \\boxed{\\{1, 2\\}}."), "\\{1, 2\\}");
  EXPECT_EQ(last_boxed("$\\boxed 5$"), "5");
  EXPECT_EQ(last_boxed("\\fbox{42}"), "42");
  EXPECT_EQ(last_boxed("\\boxed{a^{2}+b^{2}}"), "a^{2}+b^{2}");
  EXPECT_EQ(last_boxed("\\boxed{7} and an unclosed \\boxed{8"), "7");
  EXPECT_EQ(last_boxed("no box here"), std::nullopt);
  EXPECT_EQ(last_boxed("\\boxed{}"), "");
}

TEST(Grading, ExtractionFallsBackInOrder) {
  EXPECT_EQ(extract_answer("so it is \\boxed{12}. The answer is 13").answer, "12");
  EXPECT_EQ(extract_answer("so it is \\boxed{12}").method, "boxed");
  const ExtractedAnswer hash = extract_answer("5 + 13 = 18\n#### 18");
  EXPECT_EQ(hash.answer, "18");
  EXPECT_EQ(hash.method, "hash");
  const ExtractedAnswer is = extract_answer("Adding up, the answer is $42$.\nDone");
  EXPECT_EQ(is.answer, "42");
  EXPECT_EQ(is.method, "answer_is");
  EXPECT_EQ(extract_answer("The answer is: 8 bolts * 2 = 16 bolts.").answer, "16 bolts");
  const ExtractedAnswer last = extract_answer("She pays 1,200 dollars, then 3.5 more, so -7 left");
  EXPECT_EQ(last.answer, "-7");
  EXPECT_EQ(last.method, "last_number");
  EXPECT_EQ(extract_answer("total 1,234.5").answer, "1234.5");
  EXPECT_EQ(extract_answer("nothing numeric").method, "none");
}

TEST(Grading, EvaluatesSimpleExpressions) {
  EXPECT_DOUBLE_EQ(*evaluate_expression("1+2*3"), 7.0);
  EXPECT_DOUBLE_EQ(*evaluate_expression("(1+2)*3"), 9.0);
  EXPECT_DOUBLE_EQ(*evaluate_expression("2^{3}"), 8.0);
  EXPECT_DOUBLE_EQ(*evaluate_expression("-2^2"), -4.0);
  EXPECT_NEAR(*evaluate_expression("\\frac{\\pi}{2}"), std::acos(0.0), 1e-12);
  EXPECT_FALSE(evaluate_expression("x+1").has_value());
  EXPECT_FALSE(evaluate_expression("1/0").has_value());
  EXPECT_FALSE(evaluate_expression("(1,2)").has_value());
  double vars[26] = {};
  vars['x' - 'a'] = 3.0;
  EXPECT_DOUBLE_EQ(*evaluate_expression("x^2+1", vars), 10.0);
}

}  // namespace
}  // namespace lim
