// A decode step must not touch the heap: every buffer is sized when the session and its policy
// are built. This binary's operator new counts calls, and the test decodes with each policy
// after a warm-up step and checks that the count did not move.
// The replacement operators below pair malloc with free. GCC flags that pairing wherever it
// inlines them next to a new-expression, so the warning is off for this file.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "engine/policy_factory.h"
#include "engine/session.h"
#include "support/tiny_model.h"

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace lim {
namespace {

class DecodeAllocation : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(DecodeAllocation, DecodeStepsAllocateNothing) {
  const auto& [method, kv_type] = GetParam();
  test::TinyModelSpec spec;
  spec.arch = "qwen3";
  test::TinyModel model(spec);
  const ModelConfig& c = model->config();
  const int64_t n_ctx = 96;
  PolicyOptions options;
  options.method = method;
  options.budget = 16;  // smaller than the context, so sparse layers really select
  options.selection_layers = {2};
  options.page_size = 4;
  auto policy = make_policy(options, c, n_ctx);
  ThreadPool pool(2);
  SessionOptions session_options;
  session_options.kv_type = kv_type;
  Session session(*model, n_ctx, pool, policy.get(), session_options);

  const auto tokens = test::token_sequence(60, c.n_vocab, 4);
  session.prefill(std::span<const int32_t>(tokens.data(), 40));
  session.decode(tokens[40]);  // warm-up: first use of lazily sized scratch

  const int64_t before = g_allocations.load();
  for (size_t t = 41; t < tokens.size(); ++t) session.decode(tokens[t]);
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations in " << tokens.size() - 41 << " decode steps";
  EXPECT_EQ(session.n_past(), static_cast<int64_t>(tokens.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Policies, DecodeAllocation,
    ::testing::Combine(::testing::Values("dense", "lessismore", "tidal", "quest", "streaming", "oracle"),
                       ::testing::Values(DType::F32, DType::F16)),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + dtype_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace lim
