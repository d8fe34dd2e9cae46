#!/usr/bin/env bash
# Installs kbert's Debian 12 dependencies when missing (idempotent, quick when
# present), then configures and builds into build/ (ccache when present).
#   scripts/setup.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config ccache
  libeigen3-dev libboost-graph-dev libsentencepiece-dev sentencepiece nlohmann-json3-dev
  libtorch-dev libopenblas0-openmp libgloo-dev libdnnl-dev
  catch2 python3 python3-numpy python3-torch python3-dev pybind11-dev python3-pytest python3-sklearn
  python3-nbclient python3-nbformat python3-ipykernel python3-matplotlib
  clang libclang-rt-14-dev
)
# Test-only: the HTML report is rendered in a real browser (tests/report/check_report.py).
case " $* " in *" -DKBERT_BUILD_TESTS=ON "*) PACKAGES+=(chromium) ;; esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# LibTorch calls the generic libblas.so.3: make sure it is OpenBLAS (openmp flavour),
# not the reference BLAS, which is about 30x slower (docs/DESIGN.md).
if [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]; then
  current=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)
  case "$current" in
    *openblas-openmp*) ;;
    *) SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
       $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 >/dev/null ;;
  esac
fi

BUILD_DIR=${KBERT_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake "$BUILD_DIR" "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"

# Make `import kbert` work for Debian's /usr/bin/python3: the built package goes to its
# local site-packages (KBERT_INSTALL_PYTHON=0 skips this).
if [ "${KBERT_INSTALL_PYTHON:-1}" = "1" ] && [ -f "$BUILD_DIR/python/kbert/__init__.py" ]; then
  site=$(/usr/bin/python3 -c 'import sys; print("/usr/local/lib/python%d.%d/dist-packages" % sys.version_info[:2])')
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO mkdir -p "$site"
  $SUDO rm -rf "$site/kbert.tmp"
  $SUDO cp -r "$BUILD_DIR/python/kbert" "$site/kbert.tmp"
  $SUDO rm -rf "$site/kbert"
  $SUDO mv "$site/kbert.tmp" "$site/kbert"
fi
