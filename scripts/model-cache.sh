# Shared by the fetch-*.sh scripts (sourced, not run). The caller sets MODEL_NAME and
# MODEL_SHA256 first. Sets cache_dir and model_path, prints the path and exits when a verified
# copy is already cached, and otherwise creates tmp_dir, removed when the caller exits.
#
# Cache: $LIM_CACHE_DIR, or ~/.cache/lessismore when unset. Nothing is written into the repo.

cache_dir="${LIM_CACHE_DIR:-$HOME/.cache/lessismore}/models"
model_path="$cache_dir/$MODEL_NAME"

verify() {
  echo "$MODEL_SHA256  $1" | sha256sum --check --status
}

if [[ -f "$model_path" ]] && verify "$model_path"; then
  echo "$model_path"
  exit 0
fi

mkdir -p "$cache_dir"
tmp_dir="$(mktemp -d)"
trap 'rm -rf "$tmp_dir"' EXIT
