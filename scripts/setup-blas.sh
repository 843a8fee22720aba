#!/usr/bin/env bash
# Installs Debian's OpenBLAS (libopenblas0-pthread) when no CBLAS is present: the native BLAS that
# `learner.blas: auto` uses and test/models/blas.test.ts checks. Training does not need it.
set -euo pipefail
if ! ldconfig -p | grep -q -E "libopenblas\.so\.0|libcblas\.so\.3"; then
  bash "$(dirname "$0")/apt-install.sh" libopenblas0-pthread "OpenBLAS (libopenblas) for the BLAS tests"
fi
echo "blas: $(ldconfig -p | grep -o -E "libopenblas\.so\.0|libcblas\.so\.3" | head -1)"
