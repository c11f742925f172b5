"""The one place results are written: ``data/results/<experiment>/<profile>/``.

Every file goes through an atomic write (temporary file in the same folder,
``fsync``, ``os.replace``), so a crash or a killed kernel leaves either the old
file or the new one, never half of one. Tables and dicts get a sidecar
``<name>.meta.json`` with the parameters, seed, profile, git commit and
package versions that produced them.

Set ``PLURAL_RESULTS_DIR`` to redirect everything (the CLI's ``--results-dir``
and the tests do).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import plural_utils

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "PLURAL_RESULTS_DIR"


def _file_mode() -> int:
    """The mode ``open()`` would give a new file; mkstemp's 0600 would hide results from others."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def results_dir(experiment: str, profile: str) -> Path:
    """Folder for one experiment at one profile (not created here)."""
    base = os.environ.get(RESULTS_ENV)
    root = Path(base) if base else REPO_ROOT / "data" / "results"
    return root / experiment / profile


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode(encoding))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (Path, _dt.datetime)):
        return str(obj)
    return obj


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _meta(profile: str, params: dict | None, seed: int | None) -> dict:
    return {
        "profile": profile,
        "seed": seed,
        "params": params,
        "git_commit": _git_commit(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"numpy": np.__version__, "plural_utils": plural_utils.__version__},
    }


def save_results(
    experiment: str,
    profile: str,
    name: str,
    data: pd.DataFrame | dict,
    params: dict | None = None,
    seed: int | None = None,
) -> Path:
    """Save a table as ``<name>.csv`` or a dict as ``<name>.json``, plus ``<name>.meta.json``.

    Returns the path of the data file.
    """
    folder = results_dir(experiment, profile)
    if isinstance(data, pd.DataFrame):
        path = atomic_write_text(folder / f"{name}.csv", data.to_csv(index=False))
    elif isinstance(data, dict):
        path = atomic_write_text(
            folder / f"{name}.json", json.dumps(to_jsonable(data), indent=2) + "\n"
        )
    else:
        raise TypeError(f"data must be a pandas DataFrame or a dict, not {type(data).__name__}")
    meta = to_jsonable(_meta(profile, params, seed))
    atomic_write_text(folder / f"{name}.meta.json", json.dumps(meta, indent=2) + "\n")
    return path


def load_results(experiment: str, profile: str, name: str) -> pd.DataFrame | dict:
    """Read back what :func:`save_results` wrote under ``name`` (CSV first, then JSON)."""
    folder = results_dir(experiment, profile)
    csv, js = folder / f"{name}.csv", folder / f"{name}.json"
    if csv.exists():
        return pd.read_csv(csv)
    if js.exists():
        return json.loads(js.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no results named {name!r} in {folder}")


def load_meta(experiment: str, profile: str, name: str) -> dict:
    """The sidecar metadata of a saved result."""
    path = results_dir(experiment, profile) / f"{name}.meta.json"
    return json.loads(path.read_text(encoding="utf-8"))


def save_figure(fig, experiment: str, profile: str, name: str, dpi: int = 150) -> Path:
    """Save a matplotlib figure as ``<name>.png`` next to the results, atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(results_dir(experiment, profile) / f"{name}.png", buf.getvalue())
