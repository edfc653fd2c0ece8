// Builds an attention policy from its name and parameters, for every frontend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/policy.h"

namespace lim {

// Parameters of every policy; each policy reads the ones it uses.
struct PolicyOptions {
  std::string method = "dense";          // one of policy_names()
  int64_t budget = 2048;                 // K, tokens attended per sparse layer and step
  double recency_ratio = 0.25;           // LessIsMore: share of K for the most recent tokens
  int64_t sinks = 4;                     // leading tokens always attended
  std::vector<int64_t> selection_layers; // empty: default_selection_layers() (lessismore, tidal)
  std::vector<int64_t> dense_layers = {0, 1};  // lessismore, tidal
  int64_t first_sparse_layer = 2;        // quest, streaming, oracle: layers below attend densely
  int64_t page_size = 16;                // quest
  bool randomized_topk = false;          // lessismore ablation: one random head per GQA group
  bool select_every_layer = false;       // lessismore ablation: every sparse layer selects
  uint64_t seed = 0;                     // randomized_topk draws
};

// Names accepted by make_policy, in the order help text lists them.
const std::vector<std::string>& policy_names();

// Returns the policy, or nullptr for "dense" (the session then attends densely everywhere).
// Throws lim::Error naming the option for an unknown method or parameters that do not fit the
// model.
std::unique_ptr<AttentionPolicy> make_policy(const PolicyOptions& options, const ModelConfig& config,
                                             int64_t n_ctx);

// One line for logs and reports, e.g. "lessismore K=2048 (4 sinks + 1536 top + 508 recent),
// selection layers 2,12" or "quest K=2048 (128 pages of 16), sparse from layer 2".
std::string describe_policy(const PolicyOptions& options, const ModelConfig& config);

}  // namespace lim
