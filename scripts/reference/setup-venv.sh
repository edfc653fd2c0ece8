#!/usr/bin/env bash
# Creates (or updates) the Python venv used by the fixture generators in this folder and prints
# its python path. Venv: $LIM_CACHE_DIR/reference-venv, or ~/.cache/lessismore/reference-venv.
#
# Then, from the repository root:
#   "$(scripts/reference/setup-venv.sh)" scripts/reference/make_tokenizer_fixture.py
#   "$(scripts/reference/setup-venv.sh)" scripts/reference/make_logits_fixture.py
# Both scripts read the GGUF that scripts/fetch-model.sh downloads.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LIM_CACHE_DIR:-$HOME/.cache/lessismore}/reference-venv"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup-venv: creating $venv" >&2
  python3 -m venv "$venv" >&2
fi
echo "setup-venv: installing $here/requirements.txt" >&2
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" >&2
echo "$venv/bin/python"
