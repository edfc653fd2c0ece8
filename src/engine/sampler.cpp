#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common.h"

namespace lim {

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplerParams& params, int64_t n_vocab)
    : params_(params), rng_(params.seed), order_(static_cast<size_t>(n_vocab)), probs_(static_cast<size_t>(n_vocab)) {
  if (params_.top_k < 0) {
    throw Error("--top-k " + std::to_string(params_.top_k) + " is invalid; use 0 (off) or a positive count.");
  }
  if (!(params_.top_p > 0.0f && params_.top_p <= 1.0f)) {
    throw Error("--top-p " + std::to_string(params_.top_p) + " is invalid; it must be in (0, 1].");
  }
  if (std::isnan(params_.temperature)) throw Error("--temperature is NaN; give a number, 0 for greedy.");
}

int32_t Sampler::sample(const float* logits) {
  const int64_t n_vocab = static_cast<int64_t>(order_.size());
  if (params_.temperature <= 0.0f) return argmax(logits, n_vocab);

  // Candidates sorted by logit, cut to top-k.
  std::iota(order_.begin(), order_.end(), 0);
  int64_t n = n_vocab;
  if (params_.top_k > 0 && params_.top_k < n) n = params_.top_k;
  auto better = [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), better);

  // Softmax of logits / temperature over the candidates.
  const float max_logit = logits[order_[0]];
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    probs_[static_cast<size_t>(i)] = std::exp((logits[order_[static_cast<size_t>(i)]] - max_logit) / params_.temperature);
    sum += probs_[static_cast<size_t>(i)];
  }

  // Top-p: the shortest prefix whose mass reaches p (at least one token).
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    int64_t keep = 0;
    while (keep < n) {
      cumulative += probs_[static_cast<size_t>(keep)] / sum;
      ++keep;
      if (cumulative >= params_.top_p) break;
    }
    n = keep;
    sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += probs_[static_cast<size_t>(i)];
  }

  std::uniform_real_distribution<double> uniform(0.0, sum);
  double target = uniform(rng_);
  for (int64_t i = 0; i < n; ++i) {
    target -= probs_[static_cast<size_t>(i)];
    if (target < 0.0) return order_[static_cast<size_t>(i)];
  }
  return order_[static_cast<size_t>(n - 1)];
}

}  // namespace lim
