#!/usr/bin/env bash
# Set up and run every test: unit tests, nbval on chapters and solutions, autograding tests,
# leak checks on the built book and exercises/, and a headless-browser check of the book.
# Extra arguments go to pytest (for example: bash scripts/test.sh -k data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh || echo "==> no Chromium: the browser test will say so"
# tests/test_postgres.py starts its own PostgreSQL server from Debian's package (as root: apt-get).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's postgresql for the gradebook tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "==> no PostgreSQL server: tests/test_postgres.py will say so"
  fi
fi
export PATH="$(pwd)/.venv/bin:$PATH"
export COURSE_QUICK=${COURSE_QUICK:-1}
export COURSE_NO_PROGRESS=1
# The execution cache (test-output/book/_build/.jupyter_cache/quick-...) makes a rebuild execute only
# the chapters whose code changed since the last run.
echo "==> building the book (COURSE_QUICK=$COURSE_QUICK)"
mkdir -p test-output
# A kernel of the build very rarely stops answering (seen once: both ends idle, the cell waiting for
# its 300 s timeout); one more attempt tells that apart from a chapter that really fails.
build_book() {
  .venv/bin/jupyter-book build . --all --path-output test-output/book > test-output/book.log 2>&1 \
    && ! grep -q "Executing notebook failed" test-output/book.log
}
build_book || { tail -20 test-output/book.log; echo "==> book build failed; trying once more"; build_book; } \
  || { tail -50 test-output/book.log; exit 1; }
export COURSE_BOOK_HTML=$(pwd)/test-output/book/_build/html
.venv/bin/python -m pytest --durations=30 "$@"
