"""Shared test set-up: quiet torch threads, headless matplotlib, results in a tmp folder."""

import atexit
import os
import shutil
import tempfile

# Set before anything imports torch or matplotlib, and inherited by every kernel the tests start.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ["MPLBACKEND"] = "Agg"
# Trained models (plural_utils.modelcache) and the image notebooks' round checkpoints go to a
# cache of this test session, not <repo>/_cache: every run trains its smoke models afresh, as CI does.
if "PLURAL_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="plural-test-cache-")
    os.environ["PLURAL_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

import pytest  # noqa: E402


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """Point ``PLURAL_RESULTS_DIR`` at a fresh folder so tests never touch data/results."""
    root = tmp_path / "results"
    monkeypatch.setenv("PLURAL_RESULTS_DIR", str(root))
    return root
