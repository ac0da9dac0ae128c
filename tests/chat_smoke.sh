#!/bin/sh
# chat_smoke.sh PCE — `pce chat` and `pce run -p` end to end on SmolLM2
# (tests/fetch_model.sh; SKIP without it unless PCE_REQUIRE_MODEL=1): two
# turns read from stdin, greedy; each answer is streamed, then a timing
# line; the second turn re-evaluates only what follows the prefix it shares
# with the first. Then the errors: a file without a whole model, bad options.
set -eu
pce=$1
model=${PCE_TEST_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/pce/models/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -s "$model" ]; then
    echo "$model not found: run tests/fetch_model.sh"
    [ "${PCE_REQUIRE_MODEL:-0}" = 1 ] && exit 1
    exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf 'What is 2 plus 2?\nAnd 3 plus 3?\n' |
    "$pce" chat "$model" --temp 0 -n 24 > "$out/chat.txt" 2> "$out/chat.err"
cat "$out/chat.txt" "$out/chat.err"
[ "$(grep -c '^> ' "$out/chat.txt")" -eq 2 ]
[ "$(grep -c '^\[prefill: ' "$out/chat.err")" -eq 2 ]
grep -q "chat template chatml" "$out/chat.err"
# the second turn reuses the first turn's tokens (a non-zero count)
grep '^\[prefill: ' "$out/chat.err" | tail -1 | grep -Eq '\(([1-9][0-9]*) reused\)'
# an answer of some text after each "> " line
[ "$(grep -v '^> ' "$out/chat.txt" | grep -c '[A-Za-z0-9]')" -ge 2 ]
"$pce" run "$model" -p "Say hello." --temp 0 -n 8 --stop "zzz" > "$out/run.txt" 2> "$out/run.err"
grep -q '^\[prefill: ' "$out/run.err"
grep -q '[A-Za-z]' "$out/run.txt"
# the same seed, the same answer
"$pce" run "$model" -p "Tell me a story." --seed 7 -n 12 > "$out/s1.txt" 2> /dev/null
"$pce" run "$model" -p "Tell me a story." --seed 7 -n 12 > "$out/s2.txt" 2> /dev/null
cmp "$out/s1.txt" "$out/s2.txt"
# errors: a truncated model file, a bad number
head -c 4000000 "$model" > "$out/cut.gguf"
if "$pce" run "$out/cut.gguf" -p "hi" > /dev/null 2> "$out/cut.err"; then
    echo "a truncated model was accepted" >&2
    exit 1
fi
grep -q "FORMAT" "$out/cut.err"
if "$pce" run "$model" -p "hi" --temp abc > /dev/null 2>&1; then
    echo "--temp abc was accepted" >&2
    exit 1
fi
echo ok
