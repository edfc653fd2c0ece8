#!/usr/bin/env bash
# Runs llama.cpp (through llama-cpp-python, built from source for this CPU) and `lim generate`
# on the same GGUF file, prompt, thread count and context size, and prints both decode speeds
# and their ratio. Greedy decoding of a fixed number of tokens; both get the prompt as plain text.
#
# Usage: scripts/bench-peer.sh [THREADS] [N_TOKENS] [PROMPT_FILE]
# Env: LIM_MODEL (default: the cached SmolLM2), LIM_CACHE_DIR (venv location), CTX (default 4096).
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${1:-$(nproc)}"
n_tokens="${2:-256}"
prompt_file="${3:-}"
ctx="${CTX:-4096}"
model="${LIM_MODEL:-$(scripts/fetch-model.sh)}"
venv="${LIM_CACHE_DIR:-$HOME/.cache/lessismore}/peer-venv"
LLAMA_CPP_PYTHON_VERSION="0.3.36"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "bench-peer: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source (several minutes)" >&2
  python3 -m venv "$venv"
  CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install --quiet --no-cache-dir \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
fi

if [[ -z "$prompt_file" ]]; then
  prompt_file="$(mktemp)"
  trap 'rm -f "$prompt_file"' EXIT
  echo "The history of mathematics begins with counting. Write a long essay about it." >"$prompt_file"
fi

peer_ms="$("$venv/bin/python" - "$model" "$prompt_file" "$threads" "$ctx" "$n_tokens" <<'PY'
import sys, time
from llama_cpp import Llama

model, prompt_file, threads, ctx, n_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = Llama(model_path=model, n_ctx=ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
prompt = llm.tokenize(open(prompt_file, encoding="utf-8").read().encode("utf-8"), add_bos=False, special=False)
stamps = []
for _ in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
    stamps.append(time.perf_counter())
    if len(stamps) == n_tokens:
        break
decode_s = stamps[-1] - stamps[0]
print(f"{1000.0 * decode_s / (len(stamps) - 1):.2f}")
PY
)"

lim_log="$(build/lim generate --model "$model" --prompt-file "$prompt_file" --threads "$threads" --ctx "$ctx" \
  --max-tokens "$n_tokens" --temperature 0 2>&1 >/dev/null)"
lim_ms="$(grep -oP 'decode: [0-9.]+ tokens/s \(\K[0-9.]+' <<<"$lim_log")"

echo "model: $model"
echo "threads: $threads, context: $ctx, generated tokens: $n_tokens (greedy)"
echo "llama.cpp (llama-cpp-python $LLAMA_CPP_PYTHON_VERSION): $peer_ms ms/token"
echo "lim (dense attention): $lim_ms ms/token"
python3 -c "print(f'lim / llama.cpp time ratio: {$lim_ms / $peer_ms:.2f} (below 1: lim is faster)')"
