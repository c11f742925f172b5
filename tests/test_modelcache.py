"""plural_utils.modelcache: checksummed safetensors cache of trained models."""

import json

import pytest
import torch

from plural_utils.modelcache import cache_dir, cached, load_state, save_state


def test_build_once_then_hit(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2])}, {"accuracy": 0.91}

    first, info1 = cached("net", {"width": 3, "seed": 0}, build, directory=tmp_path)
    second, info2 = cached("net", {"width": 3, "seed": 0}, build, directory=tmp_path)
    assert len(calls) == 1
    assert info1 == info2 == {"accuracy": 0.91}
    for name in ("w", "b"):
        assert torch.equal(first[name], second[name])
    # another key is another file, built anew
    cached("net", {"width": 4, "seed": 0}, build, directory=tmp_path)
    assert len(calls) == 2
    assert len(list(tmp_path.glob("net-*.safetensors"))) == 2


def test_corrupt_file_is_refused_or_rebuilt(tmp_path):
    build = lambda: ({"w": torch.ones(4)}, {})  # noqa: E731
    cached("m", {"k": 1}, build, directory=tmp_path)
    weights = next(tmp_path.glob("m-*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    stem = weights.with_suffix("")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_state(stem)
    with pytest.raises(ValueError, match="checksum mismatch"):
        cached("m", {"k": 1}, build, directory=tmp_path, rebuild_on_mismatch=False)
    tensors, _ = cached("m", {"k": 1}, build, directory=tmp_path)
    assert torch.equal(tensors["w"], torch.ones(4))


def test_key_mismatch_and_missing_files(tmp_path):
    save_state(tmp_path / "x", {"w": torch.zeros(2)}, key={"a": 1})
    with pytest.raises(ValueError, match="another key"):
        load_state(tmp_path / "x", key={"a": 2})
    with pytest.raises(FileNotFoundError, match="no cached model"):
        load_state(tmp_path / "absent")
    sidecar = json.loads((tmp_path / "x.json").read_text())
    assert sidecar["key"] == {"a": 1} and len(sidecar["sha256"]) == 64


def test_tied_weights_and_bad_values(tmp_path):
    shared = torch.randn(3, 2)
    save_state(tmp_path / "tied", {"emb": shared, "head": shared})  # aliasing is copied, not refused
    tensors, _ = load_state(tmp_path / "tied")
    assert torch.equal(tensors["emb"], tensors["head"])
    with pytest.raises(ValueError, match=r"tensors\['n'\] must be a torch.Tensor"):
        save_state(tmp_path / "bad", {"n": [1, 2]})
    with pytest.raises(ValueError, match="name must be"):
        cached("a/b", {}, lambda: ({}, {}), directory=tmp_path)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PLURAL_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert cache_dir("/elsewhere").as_posix() == "/elsewhere"
