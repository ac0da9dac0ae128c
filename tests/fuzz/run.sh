#!/bin/sh
# tests/fuzz/run.sh [SECONDS] — builds libpce with clang, AddressSanitizer,
# UBSan and libFuzzer coverage into build-fuzz/ and runs each fuzz target
# for SECONDS (default 60) from the committed seeds (tests/fixtures/models
# for model files; tests/fixtures/tokenizer/corpus.txt lines for text;
# tests/fixtures/chat/*.jinja for chat templates).
# Crashes are left as build-fuzz/crash-* and make the script fail.
# Needs clang and libclang-rt-14-dev (Debian). `dev.sh test` runs it for
# 20 s per target (PCE_FUZZ_SECONDS).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
if [ ! -d build-fuzz ]; then
    CC=clang meson setup build-fuzz -Dvulkan=disabled -Dcuda=disabled -Dhip=disabled \
        -Dtests=false -Dbench=false -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link > /dev/null
fi
ninja -C build-fuzz > /dev/null
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1"
inc="-Icore/include"
lib="build-fuzz/libpce.a build-fuzz/libpce-cpu-kernels.a"
libs="$(pkg-config --libs json-c libpcre2-8 inih hwloc 2>/dev/null) -lm -ldl -lpthread"
for t in gguf tokenizer chat; do
    clang $san $inc tests/fuzz/fuzz_$t.c $lib $libs -o build-fuzz/fuzz_$t
done
seeds=build-fuzz/seeds
mkdir -p "$seeds/gguf" "$seeds/text" "$seeds/chat"
cp tests/fixtures/models/*.gguf tests/fixtures/models/*.safetensors "$seeds/gguf/" 2>/dev/null || true
cp tests/fixtures/chat/*.jinja "$seeds/chat/"
i=0
while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" > "$seeds/text/$i"
done < tests/fixtures/tokenizer/corpus.txt
cd build-fuzz
# run TARGET ARGS...: its output to TARGET.log; the log's end on failure
run() {
    t=$1
    shift
    if "./$t" -max_total_time="$secs" "$@" > "$t.log" 2>&1; then
        echo "$t: $(grep -E '^Done [0-9]+ runs' "$t.log" || tail -1 "$t.log")"
    else
        tail -60 "$t.log"
        echo "$t: FAILED (build-fuzz/$t.log, crash-* inputs in build-fuzz/)" >&2
        return 1
    fi
}
rc=0
run fuzz_gguf -max_len=65536 -rss_limit_mb=4096 seeds/gguf || rc=1
vocab=${PCE_FUZZ_VOCAB:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/models/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ -s "$vocab" ]; then
    PCE_FUZZ_VOCAB=$vocab run fuzz_tokenizer -max_len=4096 seeds/text || rc=1
else
    echo "run.sh: $vocab not found (tests/fetch_model.sh): fuzz_tokenizer skipped"
fi
run fuzz_chat -max_len=16384 seeds/chat || rc=1
exit $rc
