#!/usr/bin/env bash
# MathJax 3 for the book, served from the build instead of a CDN so math renders
# offline. Installs once (npm registry, the `mathjax` package) into
# .venv/share/mathjax and does nothing afterwards; build_book.sh copies it into
# the book's _static/mathjax.
#   bash scripts/fetch_mathjax.sh        -> prints the folder holding tex-chtml.js
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MATHJAX_VERSION=3.2.2
DEST="$REPO_ROOT/.venv/share/mathjax-$MATHJAX_VERSION"

if [[ ! -f "$DEST/tex-chtml.js" ]]; then
    if ! command -v npm >/dev/null; then
        echo "fetch_mathjax: installing npm (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2
    fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch_mathjax: fetching mathjax@$MATHJAX_VERSION (npm)" >&2
    (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null && tar xzf mathjax-*.tgz)
    # tex-chtml.js and what it loads at run time (TeX extensions, CHTML fonts, the
    # menu); the speech rule engine and the other combined builds are not needed.
    mkdir -p "$DEST.part"
    for part in tex-chtml.js input output a11y ui adaptors; do
        if [[ -e "$tmp/package/es5/$part" ]]; then
            cp -r "$tmp/package/es5/$part" "$DEST.part/"
        fi
    done
    cp "$tmp/package/LICENSE" "$DEST.part/"
    rm -rf "$DEST"
    mv "$DEST.part" "$DEST"
fi
echo "$DEST"
