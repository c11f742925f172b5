"""Trained models cached on disk with a checksum, and loaded without unpickling.

The neural experiments (images E3/E10, text E4/E11) train a generator, a
classifier, reward models or a tokenizer once and reuse them across runs.
Weights are stored as ``safetensors`` (a plain tensor format: loading it never
executes code) beside a JSON sidecar with the key that produced them, free
metadata and the file's SHA-256; :func:`load_state` refuses a file whose
checksum or key does not match. Both files are written atomically.

Where: ``$PLURAL_CACHE_DIR`` if set, else ``<repo>/_cache`` (git-ignored).

Typical use::

    tensors, info = cached("fmnist-classifier", key=cfg_subset, build=train_fn)
    model.load_state_dict(tensors)

``build`` returns ``(state_dict, info)``; ``info`` is any JSON-able dict (a test
accuracy, say) and comes back unchanged on a cache hit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from .checkpoint import stable_hash
from .results import REPO_ROOT, atomic_write_bytes, atomic_write_text, to_jsonable

CACHE_ENV = "PLURAL_CACHE_DIR"
FORMAT_VERSION = 1


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$PLURAL_CACHE_DIR``, else ``<repo>/_cache``."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else REPO_ROOT / "_cache"


def default_device() -> str:
    """``"cuda"`` when a CUDA device is visible to torch, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_state(path: str | os.PathLike, tensors: Mapping[str, Any], key: Mapping[str, Any] | None = None,
               info: Mapping[str, Any] | None = None) -> Path:
    """Write ``tensors`` to ``<path>.safetensors`` and the sidecar ``<path>.json``.

    Tensors are made contiguous and moved to the CPU; shared storage is copied
    (safetensors refuses aliased tensors, e.g. tied embeddings).
    """
    import torch
    from safetensors.torch import save as st_save

    path = Path(path)
    clean = {}
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"tensors[{name!r}] must be a torch.Tensor, got {type(value).__name__}")
        clean[name] = value.detach().to("cpu").contiguous().clone()
    weights = path.with_name(path.name + ".safetensors")
    atomic_write_bytes(weights, st_save(clean))
    sidecar = {
        "format": FORMAT_VERSION,
        "key": to_jsonable(dict(key or {})),
        "info": to_jsonable(dict(info or {})),
        "sha256": _sha256(weights),
    }
    atomic_write_text(path.with_name(path.name + ".json"), json.dumps(sidecar, indent=2, sort_keys=True))
    return weights


def load_state(path: str | os.PathLike, key: Mapping[str, Any] | None = None,
               device: str = "cpu") -> tuple[dict, dict]:
    """Load what :func:`save_state` wrote at ``path``; returns ``(tensors, info)``.

    Raises ``FileNotFoundError`` when either file is missing and ``ValueError``
    when the checksum (a truncated or altered file) or the ``key`` differs.
    """
    from safetensors.torch import load_file

    path = Path(path)
    weights = path.with_name(path.name + ".safetensors")
    sidecar_path = path.with_name(path.name + ".json")
    if not weights.exists() or not sidecar_path.exists():
        raise FileNotFoundError(f"no cached model at {path} (expected {weights.name} and {sidecar_path.name})")
    sidecar = json.loads(sidecar_path.read_text())
    if sidecar.get("format") != FORMAT_VERSION:
        raise ValueError(f"{sidecar_path} has format {sidecar.get('format')!r}; expected {FORMAT_VERSION}")
    digest = _sha256(weights)
    if digest != sidecar.get("sha256"):
        raise ValueError(f"checksum mismatch for {weights}: file {digest[:12]}..., recorded "
                         f"{str(sidecar.get('sha256'))[:12]}...; delete both files to rebuild")
    if key is not None:
        want = json.loads(json.dumps(to_jsonable(dict(key)), sort_keys=True))
        if sidecar.get("key") != want:
            raise ValueError(f"{sidecar_path} was written for another key: {sidecar.get('key')} != {want}")
    return load_file(str(weights), device=device), sidecar.get("info", {})


def cached(name: str, key: Mapping[str, Any], build: Callable[[], tuple[Mapping[str, Any], Mapping[str, Any]]],
           directory: str | os.PathLike | None = None, device: str = "cpu",
           rebuild_on_mismatch: bool = True) -> tuple[dict, dict]:
    """Return the cached ``(tensors, info)`` for ``name`` and ``key``, building them once.

    The file is ``<cache_dir>/<name>-<hash(key)>``. A corrupt file (checksum
    mismatch) is rebuilt when ``rebuild_on_mismatch`` (default), else raises.
    """
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name stem without '/', got {name!r}")
    path = cache_dir(directory) / f"{name}-{stable_hash(dict(key))}"
    try:
        return load_state(path, key=key, device=device)
    except FileNotFoundError:
        pass
    except ValueError:
        if not rebuild_on_mismatch:
            raise
    tensors, info = build()
    save_state(path, tensors, key=key, info=info)
    return load_state(path, key=key, device=device)
