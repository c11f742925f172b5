"""Shared test set-up: quiet torch threads, headless matplotlib, results in a tmp folder."""

import os

# Set before anything imports torch or matplotlib, and inherited by every kernel the tests start.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ["MPLBACKEND"] = "Agg"

import pytest  # noqa: E402


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """Point ``PLURAL_RESULTS_DIR`` at a fresh folder so tests never touch data/results."""
    root = tmp_path / "results"
    monkeypatch.setenv("PLURAL_RESULTS_DIR", str(root))
    return root
