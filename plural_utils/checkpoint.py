"""Per-round checkpoints, so that a killed run resumes where it stopped.

A runner that loops over retraining rounds (Algorithm 1 of the paper, the
GMM loop of Appendix C.4, the finite-``K`` loop of Appendix C.8) saves, after
every round, everything the next round needs: the fitted model's arrays, the
data it keeps across rounds, the table rows so far and the exact state of its
numpy generators. Rerun with the same settings and seed, it restores that
state and continues from the last finished round; because the generators
resume mid-stream, the finished table is bitwise the one of an uninterrupted
run.

One run is one file, ``<runner>-<hash>.npz`` (the hash is of the run's
settings, its seed and a fingerprint of the package's source, so that a run
never resumes from rounds that an older version of the code computed), replaced atomically every round (temporary file,
``fsync``, ``os.replace``): a kill at any moment leaves the previous round's
checkpoint or the new one. Arrays are stored as ``.npy`` members and the
rest as JSON, read back with ``allow_pickle=False``: loading a checkpoint
never executes code.

Runners take an explicit ``checkpoint_dir`` or read ``PLURAL_CHECKPOINT_DIR``
(which ``python -m plural_utils sweep`` sets for every job); with neither,
they do not checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .results import atomic_write_bytes, to_jsonable

CHECKPOINT_ENV = "PLURAL_CHECKPOINT_DIR"
# Test hook: a runner SIGKILLs its own process right after saving this round,
# the way a preempted cluster job dies (no clean-up, no exception handler runs).
KILL_AFTER_ENV = "PLURAL_CHECKPOINT_KILL_AFTER"
FORMAT_VERSION = 2
_PACKAGE_DIR = Path(__file__).resolve().parent
_META = "__meta__"
_ROWS = "rows__"


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of ``obj``'s canonical JSON (sorted keys): the same in every process and run."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of every ``.py`` file of :mod:`plural_utils` (paths and contents).

    Part of every checkpoint's key: after any change to the package's code a
    rerun starts over instead of resuming from rounds the old code computed.
    """
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE_DIR).as_posix().encode("utf-8") + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def resolve_checkpoint_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """``explicit`` if given, else ``$PLURAL_CHECKPOINT_DIR``, else ``None`` (no checkpoints)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CHECKPOINT_ENV)
    return Path(env) if env else None


def generator_state(rng: np.random.Generator) -> dict:
    """The exact state of ``rng`` (``bit_generator.state``) as plain JSON types."""
    return to_jsonable(rng.bit_generator.state)


def restore_generator(state: Mapping) -> np.random.Generator:
    """A generator that continues exactly where the one :func:`generator_state` read stopped."""
    name = state["bit_generator"]
    bit_generators = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                      "MT19937": np.random.MT19937, "Philox": np.random.Philox, "SFC64": np.random.SFC64}
    if name not in bit_generators:
        raise ValueError(f"unknown bit generator {name!r}; allowed values: {', '.join(bit_generators)}")
    bit_generator = bit_generators[name]()
    bit_generator.state = dict(state)  # numpy reads the JSON lists back into its state arrays
    return np.random.Generator(bit_generator)


def maybe_simulate_kill(t: int) -> None:
    """SIGKILL this process if ``$PLURAL_CHECKPOINT_KILL_AFTER`` equals ``t`` (tests only)."""
    if os.environ.get(KILL_AFTER_ENV) == str(t):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Saved:
    """A loaded checkpoint: ``state`` (JSON), ``arrays`` and the table ``rows`` so far."""

    state: dict
    arrays: dict[str, np.ndarray]
    rows: list[dict]


class RoundCheckpoint:
    """The checkpoint file of one run of a round-based runner.

    Parameters
    ----------
    directory : path
        Folder of the checkpoint files (created on the first save).
    runner : str
        Prefix of the file name, e.g. ``"gmm"``.
    key : mapping
        Everything that defines the run (settings and seed). Its hash, with
        :func:`code_fingerprint`, names the file, and both are stored inside: a
        file whose key or code differs is refused.
    """

    def __init__(self, directory: str | os.PathLike, runner: str, key: Mapping[str, Any]):
        key = {**dict(key), "__code__": code_fingerprint()}
        self.key = json.loads(json.dumps(to_jsonable(key), sort_keys=True))
        self.path = Path(directory) / f"{runner}-{stable_hash(self.key)}.npz"

    def save(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], rows: list[dict]) -> Path:
        """Replace the checkpoint with ``state`` (JSON-able), ``arrays`` and the table ``rows``."""
        meta = {"format": FORMAT_VERSION, "key": self.key, "state": to_jsonable(dict(state)),
                "columns": list(rows[0]) if rows else []}
        members = {_META: np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
        members.update({name: np.asarray(value) for name, value in arrays.items()})
        table = pd.DataFrame(rows)
        members.update({f"{_ROWS}{col}": table[col].to_numpy() for col in meta["columns"]})
        buf = io.BytesIO()
        np.savez(buf, **members)
        return atomic_write_bytes(self.path, buf.getvalue())

    def load(self) -> Saved | None:
        """The saved state, or ``None`` if there is no checkpoint yet."""
        if not self.path.exists():
            return None
        with np.load(self.path, allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
        meta = json.loads(members.pop(_META).tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != self.key:
            raise ValueError(f"checkpoint {self.path} was written for another run or format; "
                             f"delete it to start over (its key: {meta.get('key')}, ours: {self.key})")
        columns = meta["columns"]
        table = pd.DataFrame({col: members.pop(f"{_ROWS}{col}") for col in columns}, columns=columns)
        return Saved(meta["state"], members, table.to_dict("records"))

    # Neural runners also keep the model of the last finished round. Its weights are a
    # safetensors file beside the checkpoint (plural_utils.modelcache), written BEFORE the
    # checkpoint that names it, so a kill between the two leaves the previous round intact.

    def _weights_stem(self, t: int) -> str:
        return f"{self.path.stem}-t{int(t)}"

    def save_round(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], rows: list[dict],
                   tensors: Mapping[str, Any]) -> Path:
        """:meth:`save` plus the model ``tensors`` of round ``state["t"]``; older rounds' weights are removed."""
        from .modelcache import save_state  # modelcache imports this module

        t = int(state["t"])
        stem = self._weights_stem(t)
        save_state(self.path.parent / stem, tensors, key={"t": t})
        written = self.save({**dict(state), "weights": stem}, arrays, rows)
        for old in self.path.parent.glob(f"{self.path.stem}-t*.safetensors"):
            if old.name != f"{stem}.safetensors":
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
        return written

    def load_weights(self, saved: Saved, device: str = "cpu") -> dict:
        """The model tensors that :meth:`save_round` stored with ``saved`` (checksum verified)."""
        from .modelcache import load_state

        tensors, _ = load_state(self.path.parent / saved.state["weights"], key={"t": int(saved.state["t"])},
                                device=device)
        return tensors
