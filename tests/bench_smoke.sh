#!/bin/sh
# bench_smoke.sh PCE OUTDIR — `pce bench` end to end, small: the graph suite
# on cpu0 with a tiny model, every report format, then --compare of the run
# with itself (every ratio 1.00) and of a file that is not a report (exit 2).
set -eu
pce=$1
out=$2
mkdir -p "$out"
"$pce" bench --quick --suite graphs --backends cpu0 --hidden 256 --heads 4 --ffn 512 \
    --tokens 16 --context 32 --json "$out/a.json" --csv "$out/a.csv" --html "$out/a.html" \
    > "$out/table.txt"
grep -q "decoder prefill 16 tok" "$out/table.txt"
grep -q "f32 FMA peak" "$out/table.txt"
grep -q '"format": "pce-bench"' "$out/a.json"
grep -q "<svg" "$out/a.html"
head -1 "$out/a.csv" | grep -q "^suite,name,device"
"$pce" bench --compare "$out/a.json" "$out/a.json" > "$out/compare.txt"
grep -q "1.00" "$out/compare.txt"
echo "not json" > "$out/bad.json"
if "$pce" bench --compare "$out/a.json" "$out/bad.json" > /dev/null 2>&1; then
    echo "compare accepted a broken file" >&2
    exit 1
fi
if "$pce" bench --backends gpu42 > /dev/null 2>&1; then
    echo "an unknown device was accepted" >&2
    exit 1
fi
echo ok
