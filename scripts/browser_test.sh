#!/usr/bin/env bash
# Browser test of the rendered book: build it (at $PROFILE, default smoke, with
# results in a temporary folder so data/results stays untouched), serve it on
# localhost, open every page in headless Chromium, and fail on any execution
# error, broken internal link, image that does not load, math left as raw TeX or
# resource fetched from outside (tests/browser/check_site.py).
#   bash scripts/browser_test.sh      -> book in _build/browser/_build/html,
#                                        screenshots in _build/screenshots/
# Installs Debian's chromium and chromium-driver with apt-get when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    echo "== installing chromium and chromium-driver (apt-get)"
    sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium chromium-driver
fi

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

export PROFILE="${PROFILE:-smoke}"
BOOK_OUT=_build/browser PLURAL_RESULTS_DIR="$results" bash scripts/build_book.sh

echo "== opening every page in headless chromium"
python tests/browser/check_site.py _build/browser/_build/html --screenshots _build/screenshots
