#!/usr/bin/env bash
# device-check.sh — the one command to run on a machine with an NVIDIA GPU
# (a lent device machine): builds pce with CUDA and Vulkan, runs the
# conformance suite on every device, the GPU benchmark, and prints a short
# table. Needs only what such a machine has: a C compiler, nvcc, Python
# (meson and ninja are pip-installed if missing) and this repository.
# Everything it writes goes under $OUT (default /tmp/pce-device-check).
#
#   tests/gpu/device-check.sh [--quick]     (--quick: matmul 4096 instead of 8192)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/pce-device-check}
mkdir -p "$OUT"
size=8192
[[ "${1:-}" == "--quick" ]] && size=4096
log() { printf '\n== %s\n' "$*"; }

export PATH="$HOME/.local/bin:$PATH"
if [[ -d /usr/local/cuda/bin && ":$PATH:" != *":/usr/local/cuda/bin:"* ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
if ! command -v meson >/dev/null || ! command -v ninja >/dev/null; then
    log "installing meson and ninja with pip"
    python3 -m pip install --user --quiet meson ninja || exit 1
fi

# Build for this GPU's architecture only (fast), from nvidia-smi.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
arch=${arch:-90}
# Vulkan needs glslang and spirv-tools at build time: enabled when present.
vulkan=enabled
if ! command -v glslangValidator >/dev/null || ! command -v spirv-val >/dev/null ||
    ! pkg-config --exists vulkan 2>/dev/null; then
    vulkan=auto
    echo "note: glslang/spirv-tools/libvulkan-dev missing: building without Vulkan" | tee "$OUT/notes.txt"
fi
log "configure (cuda-arch $arch, vulkan $vulkan)"
build=build-device-check
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" -Dcuda=enabled -Dvulkan=$vulkan -Dcuda-arch="$arch" -Dtests=false \
        -Dbuildtype=release >"$OUT/setup.log" 2>&1 || { tail -30 "$OUT/setup.log"; exit 1; }
fi
t0=$(date +%s)
ninja -C "$build" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "built in $(($(date +%s) - t0)) s"

log "devices"
"$build/tools/pce" devices | tee "$OUT/devices.txt"

log "conformance on every device"
"$build/tools/pce" verify --json >"$OUT/verify.json" 2>"$OUT/verify.err"
verify_rc=$?
python3 - "$OUT/verify.json" <<'PY' | tee "$OUT/verify.txt"
import json, sys, collections
d = json.load(open(sys.argv[1]))
cases = d.get("cases") or d.get("results") or []
by = collections.OrderedDict()
for c in cases:
    k = c.get("backend", "?")
    s = by.setdefault(k, {"pass": 0, "fail": 0, "skip": 0, "worst": 0.0})
    st = c.get("status", "?")
    s[st if st in s else "fail"] += 1
    if st == "fail":
        print("FAIL", c.get("op"), c.get("dtype"), c.get("shape"), k, c.get("nmse"), c.get("reason", ""))
print("%-10s %6s %6s %6s" % ("device", "pass", "fail", "skip"))
for k, s in by.items():
    print("%-10s %6d %6d %6d" % (k, s["pass"], s["fail"], s["skip"]))
PY

log "GPU benchmark (n = $size)"
"$build/bench/pce-bench-gpu" --device cuda0 --size "$size" | tee "$OUT/bench-gpu.txt"
bench_rc=${PIPESTATUS[0]}
log "all devices on the same work (pce bench --quick)"
"$build/tools/pce" bench --quick --json "$OUT/bench.json" | tee "$OUT/bench.txt"

log "summary"
echo "verify exit $verify_rc, bench exit $bench_rc; files in $OUT"
((verify_rc == 0 && bench_rc == 0))
