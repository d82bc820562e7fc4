#!/usr/bin/env bash
# chatdc set-up on Debian 12 (run as root, or with the packages already installed).
#   ./setup.sh quickstart   install, build (Release), simulate scenarios/quickstart.yaml for a day, plot it
#   ./setup.sh test         install (with Slurm, munge, chromium, clang), build (Release), run the whole test suite
#                           (ctest; the Slurm tests start a single-node cluster, tests/slurm/cluster.sh, and stop it);
#                           then build it again with AddressSanitizer + UBSan (clang, in build-asan, with the libFuzzer
#                           harnesses) and run it
#   ./setup.sh build        install and build only
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(g++ make cmake pkg-config libsimgrid-dev libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
          catch2 libcli11-dev nlohmann-json3-dev python3 python3-pandas python3-matplotlib)
# The test suite also runs a real single-node Slurm cluster (tests/slurm/cluster.sh; skipped when not root)
# and loads the HTML report in headless Chromium; the sanitizer build and the fuzzers need clang.
TEST_PACKAGES=(slurm-wlm munge chromium clang-14 libclang-rt-14-dev)
BUILD_DIR=${CHATDC_BUILD_DIR:-build}
ASAN_BUILD_DIR=${CHATDC_ASAN_BUILD_DIR:-build-asan}
JOBS=$(nproc 2>/dev/null || echo 2)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages: ${missing[*]}" >&2
    echo "setup.sh: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

# The sanitizer build: every target with ASan + UBSan (clang 14), plus the libFuzzer harnesses (README "Tests").
build_asan() {
  cmake -S . -B "$ASAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
        -DCHATDC_SANITIZE=ON -DCHATDC_FUZZ=ON
  cmake --build "$ASAN_BUILD_DIR" -j "$JOBS"
}

case "${1:-}" in
  quickstart)
    install_packages
    build
    "$BUILD_DIR/chatdc" run scenarios/quickstart.yaml
    /usr/bin/python3 analysis/plot_timeline.py results/quickstart
    ;;
  test)
    install_packages "${TEST_PACKAGES[@]}"
    build
    ctest --test-dir "$BUILD_DIR" -j "$JOBS" --output-on-failure
    build_asan
    ctest --test-dir "$ASAN_BUILD_DIR" -j "$JOBS" --output-on-failure
    ;;
  build)
    install_packages
    build
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
