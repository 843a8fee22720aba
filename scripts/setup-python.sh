#!/usr/bin/env bash
# Creates python/.venv with the Gymnasium server's requirements (python/requirements.txt) and Ray for
# the cluster path (python/requirements-ray.txt: env_runners.placement ray, and its tests).
# Idempotent: a venv whose requirements files and package have not changed is left as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/python/.venv"
req="$root/python/requirements.txt"
ray_req="$root/python/requirements-ray.txt"
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "rlts: $python not found; install Python 3.10+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi
stamp="$venv/.requirements.sha256"
want="$(cat "$req" "$ray_req" "$root/python/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "python/.venv is up to date"
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$req" -r "$ray_req"
"$venv/bin/python" -m pip install --quiet -e "$root/python"
echo "$want" >"$stamp"
echo "python/.venv ready: $("$venv/bin/python" -c 'import gymnasium, ray, zmq; print("gymnasium", gymnasium.__version__, "pyzmq", zmq.__version__, "ray", ray.__version__)')"
