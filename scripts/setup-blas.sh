#!/usr/bin/env bash
# Installs Debian's OpenBLAS (libopenblas0-pthread) when no CBLAS is present: the native BLAS that
# `learner.blas: auto` uses and test/models/blas.test.ts checks. Training does not need it.
set -euo pipefail
if ldconfig -p | grep -q -E "libopenblas\.so\.0|libcblas\.so\.3"; then
  echo "blas: $(ldconfig -p | grep -m1 -o -E "libopenblas\.so\.0|libcblas\.so\.3")"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "rlts: install OpenBLAS (libopenblas) with your package manager for the BLAS tests" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas0-pthread >/dev/null
echo "blas: libopenblas.so.0"
