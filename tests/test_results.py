import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from plural_utils import results
from plural_utils.results import (
    atomic_write_text,
    load_meta,
    load_results,
    results_dir,
    save_figure,
    save_results,
)


def test_results_dir_follows_env(results_root):
    assert results_dir("e1", "smoke") == results_root / "e1" / "smoke"


def test_results_dir_defaults_to_repo_data(monkeypatch):
    monkeypatch.delenv("PLURAL_RESULTS_DIR", raising=False)
    assert results_dir("e1", "cpu") == results.REPO_ROOT / "data" / "results" / "e1" / "cpu"


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")

    def crash(src, dst):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_replaces_existing_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_written_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_text(tmp_path / "out.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_json_round_trip_converts_numpy(results_root):
    data = {"mass": np.float64(0.25), "K": np.int64(3), "ok": np.bool_(True), "v": np.arange(3)}
    path = save_results("e1", "smoke", "summary", data)
    assert path == results_root / "e1" / "smoke" / "summary.json"
    assert load_results("e1", "smoke", "summary") == {"mass": 0.25, "K": 3, "ok": True, "v": [0, 1, 2]}


def test_csv_round_trip(results_root):
    frame = pd.DataFrame({"t": [0, 1, 2], "mass": [0.5, 0.25, 0.125]})
    path = save_results("lemma1", "smoke", "table", frame)
    assert path.suffix == ".csv"
    pd.testing.assert_frame_equal(load_results("lemma1", "smoke", "table"), frame)


def test_meta_sidecar_records_provenance(results_root):
    params = {"K": 3, "mu1": (2.0, 2.0)}
    save_results("e1", "smoke", "summary", {"x": 1}, params=params, seed=7)
    meta = load_meta("e1", "smoke", "summary")
    assert meta["params"] == {"K": 3, "mu1": [2.0, 2.0]}
    assert meta["seed"] == 7
    assert meta["profile"] == "smoke"
    assert meta["versions"]["numpy"] == np.__version__
    assert "plural_utils" in meta["versions"]
    assert "git_commit" in meta and "timestamp" in meta
    json.dumps(meta)


def test_save_rejects_other_types(results_root):
    with pytest.raises(TypeError):
        save_results("e1", "smoke", "bad", [1, 2, 3])


def test_load_missing_raises(results_root):
    with pytest.raises(FileNotFoundError):
        load_results("e1", "smoke", "absent")


def test_save_figure_writes_png(results_root):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, "e1", "smoke", "line")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
