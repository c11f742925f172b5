#!/usr/bin/env bash
# Main job: execute every registered notebook at $PROFILE (default cpu) through
# papermill, then build the HTML book from those executed copies.
#   bash scripts/build_book.sh            -> _build/html/index.html
#   PROFILE=smoke bash scripts/build_book.sh
# Exits non-zero when any cell fails or Sphinx emits any warning.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

PROFILE="${PROFILE:-cpu}"
EXECUTED=_build/executed
STAGE=_build/src

echo "== executing notebooks at profile $PROFILE"
python -m plural_utils run-all --profile "$PROFILE" --output-dir "$EXECUTED"

echo "== staging book sources in $STAGE"
python - "$PROFILE" "$EXECUTED" "$STAGE" <<'PY'
"""Copy the book sources, swapping each registered notebook for its executed copy."""
import shutil
import sys
from pathlib import Path

import yaml

from plural_utils.profiles import EXPERIMENTS

profile, executed, stage = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
shutil.rmtree(stage, ignore_errors=True)
stage.mkdir(parents=True)

config = yaml.safe_load(Path("_config.yml").read_text())
# The notebooks already ran under papermill; the book only renders them.
config.setdefault("execute", {})["execute_notebooks"] = "off"
(stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
shutil.copy2("_toc.yml", stage / "_toc.yml")
shutil.copytree("book", stage / "book", ignore=ignore)
shutil.copytree("notebooks", stage / "notebooks", ignore=ignore)
if Path("data/results").is_dir():
    # Notebooks may link figures or tables by relative path (../../data/results/...).
    shutil.copytree("data/results", stage / "data" / "results", ignore=ignore)

for name, exp in EXPERIMENTS.items():
    ran = executed / name / profile / Path(exp.notebook).name
    shutil.copy2(ran, stage / exp.notebook)
PY

echo "== building HTML"
rm -rf _build/html
jupyter-book build "$STAGE" --path-output . -W -n --keep-going

test -f _build/html/index.html
echo "book: $(pwd)/_build/html/index.html"
