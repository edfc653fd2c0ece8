#include "engine/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common.h"
#include "ops/attention.h"
#include "ops/kernels.h"

namespace lim {

namespace {

// Prompt tokens per prefill batch: bounds activation memory for long prompts.
constexpr int64_t kPrefillChunk = 256;

// Split attention: at most this many parts per KV head, each of at least kMinPartRows rows, so
// that a long context is shared by all threads even when the model has few KV heads.
constexpr int64_t kMaxParts = 16;
constexpr int64_t kMinPartRows = 256;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void add_bias(float* x, const std::vector<float>& bias, int64_t n_tokens) {
  if (bias.empty()) return;
  const int64_t n = static_cast<int64_t>(bias.size());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += bias[static_cast<size_t>(i)];
  }
}

}  // namespace

Session::Session(const Model& model, int64_t n_ctx, ThreadPool& pool, AttentionPolicy* policy,
                 const SessionOptions& options)
    : model_(model),
      options_(options),
      config_(model.config()),
      pool_(pool),
      policy_(policy),
      cache_(model.config().n_layer, model.config().n_kv_head, n_ctx, model.config().head_dim,
             options.kv_type) {
  LIM_CHECK(n_ctx > 0);
  scale_ = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  logits_.resize(static_cast<size_t>(config_.n_vocab));
  select_logits_.resize(static_cast<size_t>(config_.n_head * n_ctx));
  thread_scratch_.resize(static_cast<size_t>(pool.n_threads() * config_.n_group() * n_ctx));
  head_recall_.resize(static_cast<size_t>(config_.n_head));
  group_rows_.resize(static_cast<size_t>(config_.n_kv_head));
  group_n_.resize(static_cast<size_t>(config_.n_kv_head));
  part_offset_.resize(static_cast<size_t>(config_.n_kv_head + 1));
  decode_probs_.resize(static_cast<size_t>(config_.n_head * n_ctx));
  const auto parts = static_cast<size_t>(config_.n_kv_head * kMaxParts * config_.n_group());
  part_max_.resize(parts);
  part_sum_.resize(parts);
  part_acc_.resize(parts * static_cast<size_t>(config_.head_dim));
  ensure_activations(1);
}

void Session::set_recall_observer(std::function<void(const RecallSample&)> observer) {
  recall_observer_ = std::move(observer);
  if (recall_observer_) recall_scratch_.resize(static_cast<size_t>(config_.n_head * cache_.n_ctx()));
}

void Session::ensure_activations(int64_t n_tokens) {
  if (n_tokens <= act_.capacity) return;
  const auto size = [n_tokens](int64_t width) { return static_cast<size_t>(n_tokens * width); };
  act_.x.resize(size(config_.n_embd));
  act_.xn.resize(size(config_.n_embd));
  act_.q.resize(size(config_.q_dim()));
  act_.k.resize(size(config_.kv_dim()));
  act_.v.resize(size(config_.kv_dim()));
  act_.attn.resize(size(config_.q_dim()));
  act_.proj.resize(size(config_.n_embd));
  act_.gate.resize(size(config_.n_ff));
  act_.up.resize(size(config_.n_ff));
  act_.capacity = n_tokens;
}

const float* Session::prefill(std::span<const int32_t> tokens) {
  if (tokens.empty()) throw Error("prefill: the prompt is empty; give at least one token.");
  if (n_past_ + static_cast<int64_t>(tokens.size()) > cache_.n_ctx()) {
    throw Error("the prompt has " + std::to_string(tokens.size()) + " tokens but only " +
                std::to_string(cache_.n_ctx() - n_past_) + " positions of the context are free; raise --ctx or shorten the prompt.");
  }
  const float* logits = nullptr;
  for (size_t begin = 0; begin < tokens.size(); begin += kPrefillChunk) {
    const int64_t n = std::min<int64_t>(kPrefillChunk, static_cast<int64_t>(tokens.size() - begin));
    logits = forward(tokens.data() + begin, n, /*use_policy=*/false);
  }
  return logits;
}

const float* Session::decode(int32_t token) {
  if (n_past_ >= cache_.n_ctx()) {
    throw Error("the context is full (" + std::to_string(cache_.n_ctx()) + " tokens); raise --ctx.");
  }
  timing_ = true;  // forward() adds this step to timings_ and clears the flag
  const float* logits = forward(&token, 1, /*use_policy=*/policy_ != nullptr);
  ++step_;
  return logits;
}

void Session::copy_prefix_from(const Session& source, int64_t n) {
  if (&source.model_ != &model_) throw Error("copy_prefix_from: the source session runs a different model.");
  if (source.cache_.type() != cache_.type()) {
    throw Error(std::string("copy_prefix_from: the source cache stores ") + dtype_name(source.cache_.type()) +
                " rows but this session's cache stores " + dtype_name(cache_.type()) + "; use the same --kv-type.");
  }
  if (n_past_ != 0) throw Error("copy_prefix_from: this session already contains tokens; start from a new session.");
  if (n < 1 || n > source.n_past_ || n > cache_.n_ctx()) {
    throw Error("copy_prefix_from: cannot copy " + std::to_string(n) + " tokens from a session containing " +
                std::to_string(source.n_past_) + " into a context of " + std::to_string(cache_.n_ctx()) + ".");
  }
  const ModelConfig& c = config_;
  const size_t bytes = static_cast<size_t>(n) * cache_.row_bytes();
  for (int64_t il = 0; il < c.n_layer; ++il) {
    for (int64_t g = 0; g < c.n_kv_head; ++g) {
      std::memcpy(cache_.k(il, g), source.cache_.k(il, g), bytes);
      std::memcpy(cache_.v(il, g), source.cache_.v(il, g), bytes);
    }
  }
  if (policy_) {
    // The policy receives each token's keys of all KV heads, as append_kv passes them.
    std::vector<float> keys(static_cast<size_t>(c.kv_dim()));
    for (int64_t il = 0; il < c.n_layer; ++il) {
      for (int64_t pos = 0; pos < n; ++pos) {
        for (int64_t g = 0; g < c.n_kv_head; ++g) cache_.load_k(il, g, pos, keys.data() + g * c.head_dim);
        policy_->on_append(il, pos, keys.data());
      }
    }
  }
  n_past_ = n;
}

const float* Session::forward(const int32_t* tokens, int64_t n_tokens, bool use_policy) {
  const auto step_start = Clock::now();
  ensure_activations(n_tokens);
  const int64_t n_embd = config_.n_embd;
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (tokens[t] < 0 || tokens[t] >= config_.n_vocab) {
      throw Error("token id " + std::to_string(tokens[t]) + " is out of range for a vocabulary of " +
                  std::to_string(config_.n_vocab) + ".");
    }
    const auto* row = static_cast<const uint8_t*>(model_.token_embd.data) +
                      static_cast<size_t>(tokens[t]) * row_bytes(model_.token_embd.type, n_embd);
    dequantize_row(model_.token_embd.type, row, act_.x.data() + t * n_embd, n_embd);
  }

  if (use_policy) {
    policy_->begin_step(n_past_ + 1);
    ++stats_.decode_steps;
    bool any_sparse = false;
    for (int64_t il = 0; il < config_.n_layer; ++il) any_sparse = any_sparse || policy_->role(il) == LayerRole::Sparse;
    if (!any_sparse) ++stats_.dense_fallback_steps;
  }

  for (int64_t il = 0; il < config_.n_layer; ++il) {
    attention_block(il, n_tokens, use_policy);
    mlp_block(il, n_tokens);
  }
  n_past_ += n_tokens;

  // Only the last token's logits are needed.
  const float* last = act_.x.data() + (n_tokens - 1) * n_embd;
  rms_norm(last, model_.output_norm.data(), n_embd, config_.rms_eps, act_.xn.data());
  timed_matmul(model_.output, act_.xn.data(), 1, logits_.data());
  if (timing_) {
    timings_.total_s += seconds_since(step_start);
    ++timings_.steps;
    timing_ = false;
  }
  return logits_.data();
}

void Session::norm_tokens(const std::vector<float>& weight, int64_t n_tokens) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    rms_norm(act_.x.data() + t * config_.n_embd, weight.data(), config_.n_embd, config_.rms_eps,
             act_.xn.data() + t * config_.n_embd);
  }
}

void Session::timed_matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  const auto start = Clock::now();
  matmul(w, x, n_tokens, y, pool_, n_tokens == 1 ? options_.matmul : MatmulPrecision::Exact);
  if (timing_) timings_.matmul_s += seconds_since(start);
}

void Session::timed_matmul_shared(std::span<const MatrixView* const> ws, const float* x, int64_t n_tokens,
                                  std::span<float* const> ys) {
  if (n_tokens > 1) {
    for (size_t i = 0; i < ws.size(); ++i) timed_matmul(*ws[i], x, n_tokens, ys[i]);
    return;
  }
  const auto start = Clock::now();
  matmul_shared_input(ws, x, ys, pool_, options_.matmul);
  if (timing_) timings_.matmul_s += seconds_since(start);
}

void Session::attention_block(int64_t il, int64_t n_tokens, bool use_policy) {
  const LayerWeights& w = model_.layers[static_cast<size_t>(il)];
  const ModelConfig& c = config_;
  norm_tokens(w.attn_norm, n_tokens);
  const MatrixView* qkv[] = {&w.wq, &w.wk, &w.wv};
  float* const qkv_out[] = {act_.q.data(), act_.k.data(), act_.v.data()};
  timed_matmul_shared(qkv, act_.xn.data(), n_tokens, qkv_out);
  add_bias(act_.q.data(), w.bq, n_tokens);
  add_bias(act_.k.data(), w.bk, n_tokens);
  add_bias(act_.v.data(), w.bv, n_tokens);

  // Per-head q/k norm (qwen3), then RoPE at each token's position.
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t pos = n_past_ + t;
    for (int64_t h = 0; h < c.n_head; ++h) {
      float* qh = act_.q.data() + t * c.q_dim() + h * c.head_dim;
      if (c.qk_norm) rms_norm(qh, w.q_norm.data(), c.head_dim, c.rms_eps, qh);
      rope(qh, c.n_rot, model_.rope_inv_freq.data(), pos, c.rope_layout);
    }
    for (int64_t g = 0; g < c.n_kv_head; ++g) {
      float* kh = act_.k.data() + t * c.kv_dim() + g * c.head_dim;
      if (c.qk_norm) rms_norm(kh, w.k_norm.data(), c.head_dim, c.rms_eps, kh);
      rope(kh, c.n_rot, model_.rope_inv_freq.data(), pos, c.rope_layout);
    }
  }
  append_kv(il, n_tokens);

  const LayerRole role = use_policy ? policy_->role(il) : LayerRole::Dense;
  if (role == LayerRole::Sparse) {
    LIM_CHECK(n_tokens == 1);
    auto start = Clock::now();
    policy_->select_for_query(il, act_.q.data(), n_past_ + 1, cache_);
    if (timing_) timings_.selection_s += seconds_since(start);
    start = Clock::now();
    attend_sparse(il);
    if (timing_) timings_.attention_s += seconds_since(start);
  } else {
    const auto start = Clock::now();
    const double selection_before = timings_.selection_s;
    attend_dense(il, n_tokens, role);
    // attend_dense times the DenseSelect layer's select() itself; count the rest as attention.
    if (timing_) timings_.attention_s += seconds_since(start) - (timings_.selection_s - selection_before);
  }
  if (use_policy && policy_->is_sparse_layer(il)) {
    // attend_sparse counts its own rows; a step where the budget covers the context reads all.
    ++stats_.sparse_layer_steps;
    if (role != LayerRole::Sparse) stats_.attended_sum += static_cast<double>(n_past_ + 1);
    if (role == LayerRole::Sparse && recall_observer_) {
      const auto start = Clock::now();
      measure_recall(il);
      if (timing_) timings_.recall_s += seconds_since(start);
    }
  }

  timed_matmul(w.wo, act_.attn.data(), n_tokens, act_.proj.data());
  for (int64_t i = 0; i < n_tokens * c.n_embd; ++i) act_.x[static_cast<size_t>(i)] += act_.proj[static_cast<size_t>(i)];
}

void Session::append_kv(int64_t il, int64_t n_tokens) {
  const ModelConfig& c = config_;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t pos = n_past_ + t;
    for (int64_t g = 0; g < c.n_kv_head; ++g) {
      cache_.store(il, g, pos, act_.k.data() + t * c.kv_dim() + g * c.head_dim,
                   act_.v.data() + t * c.kv_dim() + g * c.head_dim);
    }
    if (policy_) policy_->on_append(il, pos, act_.k.data() + t * c.kv_dim());
  }
}

void Session::attend_dense(int64_t il, int64_t n_tokens, LayerRole role) {
  const ModelConfig& c = config_;
  const int64_t group = c.n_group();
  const int64_t per_thread = group * cache_.n_ctx();
  const int64_t n_kv_after = n_past_ + n_tokens;

  if (n_tokens == 1) {
    for (int64_t g = 0; g < c.n_kv_head; ++g) {
      group_rows_[static_cast<size_t>(g)] = nullptr;
      group_n_[static_cast<size_t>(g)] = n_kv_after;
    }
    attend_split(il, role == LayerRole::DenseSelect ? select_logits_.data() : nullptr);
    if (role == LayerRole::DenseSelect) {
      const auto start = Clock::now();
      policy_->select(il, select_logits_.data());
      if (timing_) timings_.selection_s += seconds_since(start);
    }
    return;
  }

  // Work units are (token, KV head) pairs; each reads its KV head's rows once for its group.
  pool_.parallel_for(n_tokens * c.n_kv_head, [&](int64_t begin, int64_t end, int thread) {
    float* probs = thread_scratch_.data() + thread * per_thread;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t t = unit / c.n_kv_head;
      const int64_t g = unit % c.n_kv_head;
      const int64_t n = n_kv_after - n_tokens + t + 1;  // causal: rows 0..pos
      const float* q = act_.q.data() + t * c.q_dim() + g * group * c.head_dim;
      float* out = act_.attn.data() + t * c.q_dim() + g * group * c.head_dim;
      float* logits = role == LayerRole::DenseSelect ? select_logits_.data() + g * group * n : probs;
      attend_rows(q, group, c.head_dim, cache_.type(), cache_.k(il, g), cache_.v(il, g), nullptr, n, scale_, logits,
                  probs, out);
    }
  });

  if (role == LayerRole::DenseSelect) {
    LIM_CHECK(n_tokens == 1);
    policy_->select(il, select_logits_.data());
  }
}

void Session::attend_sparse(int64_t il) {
  const ModelConfig& c = config_;
  const int64_t group = c.n_group();
  const int64_t per_thread = group * cache_.n_ctx();
  double attended = 0.0;
  for (int64_t h = 0; h < c.n_head; ++h) attended += static_cast<double>(policy_->rows(il, h).n);
  stats_.attended_sum += attended / static_cast<double>(c.n_head);

  // Shared row lists (LessIsMore, StreamingLLM) are split across threads. Per-head lists
  // (TidalDecode, Quest, oracle) are attended head by head.
  bool all_shared = true;
  for (int64_t g = 0; g < c.n_kv_head && all_shared; ++g) {
    const RowSpan first = policy_->rows(il, g * group);
    for (int64_t i = 1; i < group; ++i) all_shared = all_shared && policy_->rows(il, g * group + i).rows == first.rows;
    group_rows_[static_cast<size_t>(g)] = first.rows;
    group_n_[static_cast<size_t>(g)] = first.n;
  }
  if (all_shared) {
    attend_split(il, nullptr);
    return;
  }

  pool_.parallel_for(c.n_kv_head, [&](int64_t begin, int64_t end, int thread) {
    float* probs = thread_scratch_.data() + thread * per_thread;
    for (int64_t g = begin; g < end; ++g) {
      const float* q = act_.q.data() + g * group * c.head_dim;
      float* out = act_.attn.data() + g * group * c.head_dim;
      const RowSpan first = policy_->rows(il, g * group);
      bool shared = true;
      for (int64_t i = 1; i < group; ++i) shared = shared && policy_->rows(il, g * group + i).rows == first.rows;

      if (shared) {
        attend_rows(q, group, c.head_dim, cache_.type(), cache_.k(il, g), cache_.v(il, g), first.rows, first.n, scale_,
                    probs, probs, out);
        continue;
      }
      for (int64_t i = 0; i < group; ++i) {
        const RowSpan span = policy_->rows(il, g * group + i);
        attend_rows(q + i * c.head_dim, 1, c.head_dim, cache_.type(), cache_.k(il, g), cache_.v(il, g), span.rows, span.n,
                    scale_, probs, probs, out + i * c.head_dim);
      }
    }
  });
}

void Session::attend_split(int64_t il, float* logits_base) {
  const ModelConfig& c = config_;
  const int64_t group = c.n_group();

  // Work units: the parts of KV head 0, then those of KV head 1, and so on.
  part_offset_[0] = 0;
  for (int64_t g = 0; g < c.n_kv_head; ++g) {
    const int64_t n = group_n_[static_cast<size_t>(g)];
    const int64_t parts = std::clamp<int64_t>(n / kMinPartRows, 1, kMaxParts);
    part_offset_[static_cast<size_t>(g + 1)] = part_offset_[static_cast<size_t>(g)] + parts;
  }

  pool_.parallel_for(part_offset_.back(), [&](int64_t begin, int64_t end, int) {
    int64_t g = 0;
    for (int64_t unit = begin; unit < end; ++unit) {
      while (unit >= part_offset_[static_cast<size_t>(g + 1)]) ++g;
      const int64_t first_unit = part_offset_[static_cast<size_t>(g)];
      const int64_t parts = part_offset_[static_cast<size_t>(g + 1)] - first_unit;
      const int64_t p = unit - first_unit;
      const int64_t n = group_n_[static_cast<size_t>(g)];
      const int64_t row_begin = n * p / parts;
      const int64_t row_end = n * (p + 1) / parts;

      // Logits and probabilities of KV head g's query heads: [group, n] blocks of [n_head, n].
      float* probs = decode_probs_.data() + g * group * n;
      float* logits = logits_base ? logits_base + g * group * n : probs;
      const size_t slot = static_cast<size_t>((g * kMaxParts + p) * group);
      attend_rows_part(act_.q.data() + g * group * c.head_dim, group, c.head_dim, cache_.type(), cache_.k(il, g), cache_.v(il, g),
                       group_rows_[static_cast<size_t>(g)], row_begin, row_end, scale_, logits, probs, n,
                       part_max_.data() + slot, part_sum_.data() + slot,
                       part_acc_.data() + slot * static_cast<size_t>(c.head_dim));
    }
  });

  for (int64_t g = 0; g < c.n_kv_head; ++g) {
    const int64_t parts = part_offset_[static_cast<size_t>(g + 1)] - part_offset_[static_cast<size_t>(g)];
    const size_t slot = static_cast<size_t>(g * kMaxParts * group);
    combine_attention_parts(parts, group, c.head_dim, part_max_.data() + slot, part_sum_.data() + slot,
                            part_acc_.data() + slot * static_cast<size_t>(c.head_dim),
                            act_.attn.data() + g * group * c.head_dim);
  }
}

void Session::measure_recall(int64_t il) {
  const ModelConfig& c = config_;
  const int64_t group = c.n_group();
  const int64_t n_kv = n_past_ + 1;

  double attended = 0.0;
  for (int64_t g = 0; g < c.n_kv_head; ++g) {
    const float* q = act_.q.data() + g * group * c.head_dim;
    float* probs = recall_scratch_.data() + g * group * n_kv;
    attention_logits(q, group, c.head_dim, cache_.type(), cache_.k(il, g), n_kv, scale_, probs);
    for (int64_t i = 0; i < group; ++i) {
      const int64_t h = g * group + i;
      float* p = probs + i * n_kv;
      softmax(p, n_kv);
      const RowSpan span = policy_->rows(il, h);
      double mass = 0.0;
      for (int64_t j = 0; j < span.n; ++j) mass += p[span.rows[j]];
      head_recall_[static_cast<size_t>(h)] = mass;
      attended += static_cast<double>(span.n);
    }
  }

  RecallSample sample;
  sample.step = step_;
  sample.layer = il;
  sample.n_kv = n_kv;
  for (double r : head_recall_) sample.recall += r;
  sample.recall /= static_cast<double>(c.n_head);
  sample.attended = attended / static_cast<double>(c.n_head);
  recall_observer_(sample);
}

void Session::mlp_block(int64_t il, int64_t n_tokens) {
  const LayerWeights& w = model_.layers[static_cast<size_t>(il)];
  const ModelConfig& c = config_;
  norm_tokens(w.ffn_norm, n_tokens);
  const MatrixView* gate_up[] = {&w.w_gate, &w.w_up};
  float* const gate_up_out[] = {act_.gate.data(), act_.up.data()};
  timed_matmul_shared(gate_up, act_.xn.data(), n_tokens, gate_up_out);
  silu_mul(act_.gate.data(), act_.up.data(), n_tokens * c.n_ff, act_.gate.data());
  timed_matmul(w.w_down, act_.gate.data(), n_tokens, act_.proj.data());
  for (int64_t i = 0; i < n_tokens * c.n_embd; ++i) act_.x[static_cast<size_t>(i)] += act_.proj[static_cast<size_t>(i)];
}

}  // namespace lim
