#!/usr/bin/env bash
# Prints the path of a Python 3 that can import h5py and matplotlib (what scripts/plot_mc.py needs):
# Debian's /usr/bin/python3 first, then the `python3` first on PATH. Exits 1 with a message if neither can.
#   "$(scripts/python.sh)" scripts/plot_mc.py results.h5
set -u

for py in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
  [ -n "$py" ] && [ -x "$py" ] || continue
  if "$py" -c 'import h5py, matplotlib' >/dev/null 2>&1; then
    echo "$py"
    exit 0
  fi
done
echo "python.sh: no Python 3 can import h5py and matplotlib; install Debian's python3-h5py python3-matplotlib" \
     "(scripts/bootstrap.sh does)" >&2
exit 1
