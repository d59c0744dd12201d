# Shared by the CTest drivers of the plot scripts (test_plot_*.sh); source it, then call
#   plot_test_setup TAG "$@"
# which checks the arguments AIMC_BINARY SOURCE_DIR and sets $aimc, $src, $py (a Python with h5py and
# matplotlib, scripts/python.sh) and $tmp (a scratch directory, removed on exit, and the working one).

fail() { echo "FAIL: $*" >&2; exit 1; }

plot_test_setup() {
  local tag=$1
  shift
  if [ $# -ne 2 ]; then
    echo "usage: $0 AIMC_BINARY SOURCE_DIR" >&2
    exit 2
  fi
  aimc=$(realpath "$1")
  src=$(realpath "$2")
  py=$("$src/scripts/python.sh")
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/aimc-$tag-test.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  cd "$tmp"
}

# A valid PNG starts with the 8-byte signature 89 50 4E 47 0D 0A 1A 0A.
check_png() {
  [ -s "$1" ] || fail "$1 missing or empty"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"
  echo "ok: $1 ($(stat -c %s "$1") bytes)"
}

# check_fails WHAT EXPECT COMMAND...: exit status 1 and a single line on stderr containing EXPECT.
check_fails() {
  local what=$1 expect=$2
  shift 2
  local rc=0
  "$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
  [ "$rc" -eq 1 ] || fail "$what: exit status $rc, expected 1 (stderr: $(cat "$tmp/err.txt"))"
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || fail "$what: expected one line on stderr, got: $(cat "$tmp/err.txt")"
  grep -qF -- "$expect" "$tmp/err.txt" || fail "$what: stderr lacks '$expect': $(cat "$tmp/err.txt")"
  echo "ok: $what -> $(cat "$tmp/err.txt")"
}
