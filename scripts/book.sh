#!/usr/bin/env bash
# Set up and build the HTML book, executing every chapter (full settings unless COURSE_QUICK=1).
# Output: _build/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export COURSE_NO_PROGRESS=${COURSE_NO_PROGRESS:-1}
.venv/bin/jupyter-book build . --all
echo "==> book: $(pwd)/_build/html/index.html"
