#!/usr/bin/env bash
# `apt-install.sh PACKAGE WHAT`: installs Debian's PACKAGE (with sudo when not root), or says in one line
# that WHAT must be installed by hand where there is no apt-get. Shared by the setup scripts.
set -euo pipefail
package="$1"
what="$2"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "rlts: install $what with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
