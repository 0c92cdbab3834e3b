#!/usr/bin/env bash
# Set up and build the HTML book (full settings unless COURSE_QUICK=1). A chapter is executed only
# when its code changed since its cached run: the execution cache (_build/.jupyter_cache/) keeps one
# folder per setting and coursekit version (book/_ext/course_cache.py). --all re-reads every page
# from that cache, so that nothing of a previous setting's pages survives.
# Output: _build/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export COURSE_NO_PROGRESS=${COURSE_NO_PROGRESS:-1}
.venv/bin/jupyter-book build . --all
echo "==> book: $(pwd)/_build/html/index.html"
