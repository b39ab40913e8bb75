#!/usr/bin/env bash
# Installs the Debian 12 packages migbench needs, only those that are missing.
#   scripts/setup-deps.sh           build + test dependencies
#   scripts/setup-deps.sh --ci      also what CI uses (clang fuzzers, real QEMU for the
#                                   conformance target and benchmarks, gnuplot and chromium
#                                   for `migbench report` and its browser test, Slurm and
#                                   munge for the sweep-on-Slurm test)
set -euo pipefail

# libtsan2: gcc's ThreadSanitizer runtime (the TSan build of ./mb test).
# glib-networking: GIO's TLS backend (migration TLS); gnutls-bin: certtool, which the TLS
# tests and `migbench run --tls` use to make a CA and certificates.
pkgs=(meson ninja-build pkg-config gcc libc6-dev libtsan2 libglib2.0-dev libjson-c-dev
      zlib1g-dev libzstd-dev libxxhash-dev python3 python3-pytest lcov clang-format
      libgnutls28-dev glib-networking gnutls-bin)
if [[ "${1:-}" == "--ci" ]]; then
    pkgs+=(clang llvm libclang-rt-14-dev qemu-system-x86 qemu-utils iproute2 procps
           gnuplot-nox chromium slurm-wlm munge)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup-deps: need root to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
