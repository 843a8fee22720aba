#!/usr/bin/env bash
# Creates python/.venv with the Gymnasium server's requirements (python/requirements.txt).
# Idempotent: a venv whose requirements file has not changed is left as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/python/.venv"
req="$root/python/requirements.txt"
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "rlts: $python not found; install Python 3.10+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "python/.venv is up to date"
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$req"
"$venv/bin/python" -m pip install --quiet -e "$root/python"
echo "$want" >"$stamp"
echo "python/.venv ready: $("$venv/bin/python" -c 'import gymnasium, zmq; print("gymnasium", gymnasium.__version__, "pyzmq", zmq.__version__)')"
