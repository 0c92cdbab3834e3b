#!/usr/bin/env bash
# Create .venv and install the pinned requirements and the course package (idempotent: skips the
# install when requirements.txt and pyproject.toml have not changed since the last run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-64)
if [ "$(cat .venv/.installed 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing pinned requirements (about 2 minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > .venv/.installed
fi
