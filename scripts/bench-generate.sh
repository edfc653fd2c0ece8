#!/usr/bin/env bash
# Measures `lim generate` decode speed with dense and LessIsMore attention on the default model,
# in two regimes: a short prompt with a long answer, and a long prompt (GSM8K problems from the
# shared data directory) with a short answer. Prints a Markdown table; the raw stderr of each run
# goes to $OUT_DIR (default: bench-out/).
#
# Usage: scripts/bench-generate.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${1:-$(nproc)}"
out_dir="${OUT_DIR:-bench-out}"
data="${LIM_DATA_DIR:-../shared/data}/gsm8k/test.jsonl"
mkdir -p "$out_dir"
model="$(scripts/fetch-model.sh)"

long_prompt="$out_dir/long_prompt.txt"
python3 - "$data" "$long_prompt" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")][:60]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write(" ".join(row["question"] for row in rows))
PY

run() {  # name, then lim generate arguments
  local name="$1"
  shift
  build/lim generate --model "$model" --threads "$threads" --temperature 0 "$@" \
    >"$out_dir/$name.txt" 2>"$out_dir/$name.log"
  local prompt decode prefill
  prompt="$(grep -oP 'prompt tokens: \K[0-9]+' "$out_dir/$name.log")"
  prefill="$(grep -oP 'prefill: \K[0-9.]+' "$out_dir/$name.log")"
  decode="$(grep -oP 'decode: [0-9.]+ tokens/s \(\K[0-9.]+' "$out_dir/$name.log")"
  local generated
  generated="$(grep -oP 'generated tokens: \K[0-9]+' "$out_dir/$name.log")"
  echo "| $name | $prompt | $generated | $prefill | $decode |"
}

echo "| run | prompt tokens | generated tokens | prefill tokens/s | decode ms/token |"
echo "| --- | --- | --- | --- | --- |"
short=(--chat --prompt "Write a long, detailed essay about the history of mathematics." --max-tokens 1024 --ctx 2048)
run short-dense "${short[@]}" --attention dense
run short-lessismore-K128 "${short[@]}" --attention lessismore --budget 128
run short-lessismore-K512 "${short[@]}" --attention lessismore --budget 512
long=(--prompt-file "$long_prompt" --max-tokens 128 --ctx 4096)
run long-dense "${long[@]}" --attention dense
run long-lessismore-K512 "${long[@]}" --attention lessismore --budget 512
