#!/usr/bin/env bash
# Idempotent, offline-safe set-up of .venv at the repo root. The other scripts
# source it to inherit PATH/OMP_WAIT_POLICY/MPLBACKEND; by hand, run
# `bash scripts/setup.sh && source .venv/bin/activate`.
#
# Installs only when the requirement files or pyproject.toml changed since the
# last successful install (a stamp named after their hash), so once installed it
# touches no network.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

# torch spins its OpenMP threads at full speed while idle without this (6-60x slower on 2 cores).
export OMP_WAIT_POLICY=PASSIVE
export MPLBACKEND=Agg

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup: creating $VENV"
    python3 -m venv "$VENV"
fi

hash="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-nodeps.txt" "$REPO_ROOT/pyproject.toml" \
        | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.installed-$hash"

if [[ ! -f "$stamp" ]]; then
    echo "setup: installing requirements into $VENV"
    pip=("$VENV/bin/python" -m pip install --disable-pip-version-check)
    find_links=()
    if [[ -d /opt/wheels ]]; then
        find_links=(--find-links /opt/wheels)
    fi
    "${pip[@]}" "${find_links[@]}" -r "$REPO_ROOT/requirements.txt"
    "${pip[@]}" "${find_links[@]}" --no-deps -r "$REPO_ROOT/requirements-nodeps.txt"
    "${pip[@]}" --no-build-isolation --no-deps -e "$REPO_ROOT"
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
