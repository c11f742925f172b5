"""Image data sets as float tensors in ``[-1, 1]``, shape ``(n, C, H, W)``.

``digits``
    scikit-learn's 8 x 8 handwritten digits (1,797 images, bundled): the smoke profile.
``fashion-mnist``
    Fashion-MNIST (Xiao et al., 2017), read from the IDX ``.gz`` files of Debian's
    ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``), a
    folder given by ``folder=`` or ``$PLURAL_FASHION_MNIST_DIR``, or fetched from
    the official mirror when online; optionally average-pooled to ``size``.
``cifar10``
    CIFAR-10 (Krizhevsky, 2009) from the *binary* release (``cifar-10-binary.tar.gz``
    or its extracted ``cifar-10-batches-bin`` folder): raw bytes, no pickle.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..results import REPO_ROOT
from ..validation import check_choice

DATASETS = ("digits", "fashion-mnist", "cifar10")
FASHION_ENV = "PLURAL_FASHION_MNIST_DIR"
CIFAR_ENV = "PLURAL_CIFAR10_DIR"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_DEFAULT_DIR = REPO_ROOT / "data" / "external" / "cifar10"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_RECORD = 1 + 3 * 32 * 32


@dataclass(frozen=True)
class ImageData:
    """Train and held-out test images (``float32`` in ``[-1, 1]``, NCHW) with integer labels."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.train_x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_dataset(name: str, size: int | None = None, folder: str | os.PathLike | None = None,
                 download: bool = True) -> ImageData:
    """Load ``name`` (one of :data:`DATASETS`); ``size`` average-pools to ``size x size``."""
    check_choice(name, "dataset", DATASETS)
    if name == "digits":
        data = load_digits()
    elif name == "fashion-mnist":
        data = load_fashion_mnist(folder, download=download)
    else:
        data = load_cifar10(folder)
    if size is not None and size != data.shape[1]:
        data = ImageData(data.name, pool_to(data.train_x, size), data.train_y,
                         pool_to(data.test_x, size), data.test_y, data.classes)
    return data


def pool_to(x: np.ndarray, size: int) -> np.ndarray:
    """Average-pool square images to ``size x size``.

    A side that is not a multiple of ``size`` is first padded with background
    (``-1``) evenly on both sides: Fashion-MNIST's 28 x 28 becomes 32 x 32, then 16 x 16.
    """
    if not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"size must be a positive int; got size={size!r}")
    side = x.shape[-1]
    padded = -(-side // size) * size
    if padded != side:
        lo = (padded - side) // 2
        pad = ((0, 0), (0, 0), (lo, padded - side - lo), (lo, padded - side - lo))
        x = np.pad(x, pad, constant_values=-1.0)
    f = padded // size
    n, c = x.shape[:2]
    return x.reshape(n, c, size, f, size, f).mean(axis=(3, 5)).astype(np.float32)


def _to_unit_range(x: np.ndarray, top: float) -> np.ndarray:
    return (x.astype(np.float32) / top * 2.0 - 1.0).astype(np.float32)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> ImageData:
    """scikit-learn's digits (bundled with the package, no download), a fixed split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = _to_unit_range(bunch.images[:, None], 16.0)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return ImageData("digits", x[train], y[train], x[test], y[test], tuple(str(d) for d in range(10)))


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: magic, dimensions, ``uint8`` payload), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: {data.size} bytes for dimensions {dims}")
    return data.reshape(dims)


def _fashion_folder(folder) -> Path | None:
    """The first folder holding all four Fashion-MNIST files, or ``None``."""
    candidates = [folder, os.environ.get(FASHION_ENV), DEBIAN_FASHION_DIR, REPO_ROOT / "data" / "external" / "fashion-mnist"]
    for c in candidates:
        if c is not None and all((Path(c) / f).exists() for f in FASHION_FILES.values()):
            return Path(c)
    return None


def _fetch_fashion(target: Path, timeout: float = 10.0) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for fname in FASHION_FILES.values():
        with urllib.request.urlopen(FASHION_URL + fname, timeout=timeout) as resp:
            (target / fname).write_bytes(resp.read())


def load_fashion_mnist(folder: str | os.PathLike | None = None, download: bool = True) -> ImageData:
    """Fashion-MNIST 28 x 28 from local IDX files, fetched once when absent and online."""
    found = _fashion_folder(folder)
    if found is None and download:
        target = Path(folder) if folder is not None else REPO_ROOT / "data" / "external" / "fashion-mnist"
        try:
            _fetch_fashion(target)
            found = target
        except OSError:
            found = None
    if found is None:
        raise FileNotFoundError(
            "Fashion-MNIST not found: install Debian's `dataset-fashion-mnist` (apt-get install "
            f"dataset-fashion-mnist, files in {DEBIAN_FASHION_DIR}) or put {', '.join(FASHION_FILES.values())} "
            f"from {FASHION_URL} in a folder named by ${FASHION_ENV} or the profile key `data_dir`")
    arrays = {k: _read_idx(found / f) for k, f in FASHION_FILES.items()}
    return ImageData("fashion-mnist", _to_unit_range(arrays["train_x"][:, None], 255.0),
                     arrays["train_y"].astype(np.int64), _to_unit_range(arrays["test_x"][:, None], 255.0),
                     arrays["test_y"].astype(np.int64), FASHION_CLASSES)


def _cifar_missing(where: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"CIFAR-10 (binary version) not found in {where}: download {CIFAR_URL} (162 MB) and put the "
        f".tar.gz or its extracted cifar-10-batches-bin/ folder there, or point ${CIFAR_ENV} or the "
        "profile key `data_dir` at it")


def _cifar_records(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    if len(raw) % _CIFAR_RECORD:
        raise ValueError(f"{source}: {len(raw)} bytes is not a whole number of CIFAR-10 records")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def load_cifar10(folder: str | os.PathLike | None = None) -> ImageData:
    """CIFAR-10 32 x 32 from the binary release: ``data_batch_{1..5}.bin`` and ``test_batch.bin``."""
    where = Path(folder or os.environ.get(CIFAR_ENV) or CIFAR_DEFAULT_DIR)
    train_names = [f"data_batch_{i}.bin" for i in range(1, 6)]
    blobs: dict[str, bytes] = {}
    for base in (where, where / "cifar-10-batches-bin"):
        if all((base / f).exists() for f in train_names + ["test_batch.bin"]):
            blobs = {f: (base / f).read_bytes() for f in train_names + ["test_batch.bin"]}
            break
    if not blobs:
        archive = where / "cifar-10-binary.tar.gz" if where.is_dir() else where
        if not archive.is_file():
            raise _cifar_missing(where)
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in train_names + ["test_batch.bin"]:
                    blobs[name] = tar.extractfile(member).read()
        if len(blobs) != 6:
            raise _cifar_missing(where)
    parts = [_cifar_records(blobs[f], f) for f in train_names]
    test_x, test_y = _cifar_records(blobs["test_batch.bin"], "test_batch.bin")
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return ImageData("cifar10", _to_unit_range(train_x, 255.0), train_y, _to_unit_range(test_x, 255.0),
                     test_y, CIFAR_CLASSES)


def tile_images(x: np.ndarray, ncol: int = 8) -> np.ndarray:
    """Images ``(n, C, H, W)`` in ``[-1, 1]`` as one ``(rows*H, ncol*W[, C])`` array in ``[0, 1]`` for ``imshow``."""
    x = np.asarray(x)
    n, c, h, w = x.shape
    rows = -(-n // ncol)
    pad = np.full((rows * ncol - n, c, h, w), -1.0, dtype=x.dtype)
    grid = np.concatenate([x, pad]).reshape(rows, ncol, c, h, w).transpose(0, 3, 1, 4, 2)
    grid = ((grid.reshape(rows * h, ncol * w, c) + 1) / 2).clip(0, 1)
    return grid[..., 0] if c == 1 else grid
