#!/usr/bin/env bash
# Installs what aimc needs from Debian 12 packages (idempotent; quiet when everything is there).
# Run as root (or with sudo available). Nothing is downloaded from anywhere but Debian's archive.
set -euo pipefail

packages=(
  g++ cmake make pkg-config git
  libeigen3-dev libhdf5-dev hdf5-tools libboost-dev libboost-random-dev
  doctest-dev libcli11-dev libtomlplusplus-dev zlib1g-dev librandom123-dev
  libzip-dev   # NumPy .npz archives (data/array_file.cpp)
  libonnx-dev libprotobuf-dev   # ONNX model import (nets/onnx_import.cpp): ONNX's protobuf classes
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  python3-numpy python3-h5py python3-matplotlib python3-sklearn python3-scipy
  python3-torch python3-onnx   # tests of the ONNX import (tests/nets/torch_export.py)
  libomp5-14 libomp-14-dev   # ThreadSanitizer run (tests/tsan)
)
# libgomp (OpenMP for g++) ships with g++ itself.

missing=()
for p in "${packages[@]}"; do
  [ -z "$p" ] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done" >&2
