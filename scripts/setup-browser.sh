#!/usr/bin/env bash
# Installs Debian's Chromium for the browser end-to-end tests (test/browser), driven by playwright-core.
# Playwright's own browser download needs a network this project cannot assume; the distribution's
# package is enough. Skips the install when a chromium binary is already there (or RLTS_CHROMIUM is set).
set -euo pipefail
if [ -n "${RLTS_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium || echo "$RLTS_CHROMIUM")"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" chromium "Chromium (or set RLTS_CHROMIUM=/path/to/chrome) for the browser tests"
echo "chromium: $(command -v chromium)"
