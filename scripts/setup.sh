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

# Offline stand-in data of the image and text experiments (Debian packages): Fashion-MNIST's idx
# files (E3/E10 at `cpu`) and the Python 3.11 manual as an English corpus (E4 at `cpu`). Best
# effort: without root or a Debian registry the loaders say what is missing; `smoke` needs neither.
if [[ -z "${PLURAL_SKIP_APT:-}" ]] && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    missing=()
    [[ -d /usr/share/datasets/fashion-mnist ]] || missing+=(dataset-fashion-mnist)
    [[ -f /usr/share/info/python3.11.info.gz ]] || missing+=(python3.11-doc)
    if (( ${#missing[@]} )); then
        echo "setup: apt-get install ${missing[*]}"
        { timeout 600 apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
          || { timeout 300 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }; } \
          || echo "setup: warning: could not install ${missing[*]} (the cpu profiles of E3/E10/E4 need them)"
    fi
fi

export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
