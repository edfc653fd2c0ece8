#!/usr/bin/env bash
# Measures dense decode speed of llama.cpp (through llama-cpp-python, built from source for this
# CPU) and of lim on the same GGUF file, thread count and context lengths, and prints both speeds
# and their ratio as a Markdown table.
#
# At each context length L both engines are given the same text (the GSM8K test questions,
# repeated) cut to L tokens, then decode greedily. The figure is the median time per decode step
# over three repetitions of N_TOKENS steps. lim runs `lim bench --methods dense`.
#
# Usage: scripts/bench-peer.sh [THREADS] [N_TOKENS] [CONTEXTS]
#   THREADS   worker threads for both engines (default: all hardware threads)
#   N_TOKENS  timed decode steps per repetition (default 32)
#   CONTEXTS  comma-separated context lengths (default 128,1024,4096)
# Env: LIM_MODEL (default: the cached SmolLM2), LIM_CACHE_DIR (venv location), LIM_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${1:-$(nproc)}"
n_tokens="${2:-32}"
contexts="${3:-128,1024,4096}"
model="${LIM_MODEL:-$(scripts/fetch-model.sh)}"
data="${LIM_DATA_DIR:-../shared/data}/gsm8k/test.jsonl"
venv="${LIM_CACHE_DIR:-$HOME/.cache/lessismore}/peer-venv"
LLAMA_CPP_PYTHON_VERSION="0.3.36"

if [[ ! -f "$data" ]]; then
  echo "bench-peer: $data is missing; set LIM_DATA_DIR to the directory that contains gsm8k/test.jsonl." >&2
  exit 1
fi
if [[ ! -x build/lim ]]; then
  echo "bench-peer: build/lim is missing; run scripts/setup.sh first." >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "bench-peer: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source (several minutes)" >&2
  python3 -m venv "$venv"
  CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install --quiet --no-cache-dir \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The text both engines read: every GSM8K test question, each followed by a blank line.
python3 - "$data" "$work/prompt.txt" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        out.write(json.loads(line)["question"] + "\n\n")
PY

echo "bench-peer: llama.cpp at contexts $contexts" >&2
"$venv/bin/python" - "$model" "$work/prompt.txt" "$threads" "$contexts" "$n_tokens" >"$work/peer.tsv" <<'PY'
import statistics, sys, time
import llama_cpp
from llama_cpp import Llama

model, prompt_file, threads, contexts, n_tokens = sys.argv[1:6]
threads, n_tokens = int(threads), int(n_tokens)
contexts = [int(c) for c in contexts.split(",")]
repeats = 3
longest = max(contexts) + (n_tokens + 1) * repeats + 8
llm = Llama(model_path=model, n_ctx=longest, n_threads=threads, n_threads_batch=threads, verbose=False)
text = open(prompt_file, encoding="utf-8").read()
tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
while len(tokens) < max(contexts):
    tokens += tokens
for context in contexts:
    medians = []
    evals = []
    for _ in range(repeats):
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        stamps = []
        # reset=True: the prompt is evaluated again, so each repetition starts at context L.
        for _token in llm.generate(tokens[:context], temp=0.0, top_k=1, reset=True):
            stamps.append(time.perf_counter())
            if len(stamps) == n_tokens + 1:
                break
        steps = [b - a for a, b in zip(stamps, stamps[1:])]
        medians.append(1000.0 * statistics.median(steps))
        # llama.cpp's own count of the time spent evaluating generated tokens, without the
        # Python wrapper's sampling and bookkeeping between tokens.
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        evals.append(perf.t_eval_ms / max(perf.n_eval, 1))
    print(f"{context}\t{statistics.median(medians):.3f}\t{min(medians):.3f}\t{max(medians):.3f}"
          f"\t{statistics.median(evals):.3f}")
    print(f"bench-peer: llama.cpp L={context}: {statistics.median(medians):.2f} ms/token", file=sys.stderr)
PY

echo "bench-peer: lim at contexts $contexts" >&2
build/lim bench --model "$model" --prompt-file "$work/prompt.txt" --contexts "$contexts" --methods dense \
  --threads "$threads" --steps "$n_tokens" --repeats 3 --warmup 1 --bandwidth-mib 0 \
  --jsonl "$work/lim.jsonl" >/dev/null

python3 - "$work/peer.tsv" "$work/lim.jsonl" "$model" "$threads" "$n_tokens" "$LLAMA_CPP_PYTHON_VERSION" <<'PY'
import json, sys
peer_file, lim_file, model, threads, n_tokens, version = sys.argv[1:7]
peer = {}
for line in open(peer_file):
    context, median, low, high, evaluation = line.split("\t")
    peer[int(context)] = (float(median), float(low), float(high), float(evaluation))
lim = {}
for line in open(lim_file):
    record = json.loads(line)
    s = record["summary"]
    lim[record["context"]] = (s["ms_per_token"], s["min_ms"], s["max_ms"])
print(f"Model: {model}; {threads} threads; greedy decode, median of 3 repetitions of {n_tokens} steps.")
print(f"llama.cpp: llama-cpp-python {version} built with GGML_NATIVE=ON. lim: `lim bench --methods dense`.")
print()
print("| context | llama.cpp ms/token | llama.cpp eval ms/token | lim ms/token | lim / llama.cpp eval |")
print("| ---: | ---: | ---: | ---: | ---: |")
for context in sorted(peer):
    p = peer[context]
    l = lim.get(context)
    if l is None:
        print(f"| {context} | {p[0]:.2f} ({p[1]:.2f}–{p[2]:.2f}) | {p[3]:.2f} | – | – |")
        continue
    print(f"| {context} | {p[0]:.2f} ({p[1]:.2f}–{p[2]:.2f}) | {p[3]:.2f} | {l[0]:.2f} ({l[1]:.2f}–{l[2]:.2f}) "
          f"| {l[0] / p[3]:.2f} |")
print()
print("llama.cpp ms/token is the wall time between generated tokens in llama-cpp-python; eval ms/token")
print("is llama.cpp's own evaluation time per generated token (llama_perf_context), without the Python")
print("wrapper. The ratio compares lim with the latter. A ratio below 1 means lim is faster.")
PY
