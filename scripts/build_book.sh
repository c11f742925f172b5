#!/usr/bin/env bash
# Main job: execute every registered notebook at $PROFILE (default cpu) through
# papermill, then build the HTML book from those executed copies.
#   bash scripts/build_book.sh            -> _build/html/index.html
#   PROFILE=smoke bash scripts/build_book.sh
#   BOOK_OUT=/tmp/b bash scripts/build_book.sh   -> /tmp/b/_build/html/index.html
# Exits non-zero when any cell fails or Sphinx emits any warning.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

PROFILE="${PROFILE:-cpu}"
BOOK_OUT="${BOOK_OUT:-.}"
EXECUTED="$BOOK_OUT/_build/executed"
STAGE="$BOOK_OUT/_build/src"

# Every round-based runner checkpoints here: rerun after a kill, the build resumes each run at its
# last finished round (checkpoints are keyed by settings, seed and the package's code).
export PLURAL_CHECKPOINT_DIR="${PLURAL_CHECKPOINT_DIR:-$PWD/_cache/rounds}"

echo "== executing notebooks at profile $PROFILE"
python -m plural_utils run-all --profile "$PROFILE" --output-dir "$EXECUTED"

echo "== staging book sources in $STAGE"
MATHJAX="$(bash scripts/fetch_mathjax.sh)"
python - "$PROFILE" "$EXECUTED" "$STAGE" "$MATHJAX" <<'PY'
"""Copy the book sources, swapping each registered notebook for its executed copy."""
import sys
from pathlib import Path

from plural_utils.book import stage_book

stage_book(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
PY

echo "== building HTML"
rm -rf "$BOOK_OUT/_build/html"
jupyter-book build "$STAGE" --path-output "$BOOK_OUT" -W -n --keep-going

test -f "$BOOK_OUT/_build/html/index.html"
echo "book: $(realpath "$BOOK_OUT/_build/html/index.html")"
