# ruff: noqa: E501  (the mutation table reads best one mistake a line)
"""bn01_standardize's checks in-process (no kernels): the solution scores full marks on the
hidden cases, each named mistake is named and gets at most half, "eigenvalues without /N"
is not a mistake, and odd returns get a message instead of a traceback."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from bncourse.checks import bn01_standardize as checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "solutions" / "bn01_standardize" / "standardize.ipynb"
CHECK_OF = {
    "fit_standardizer": ("check_fit_standardizer", "check_fit_standardizer_rejects"),
    "standardize": ("check_standardize",),
    "min_max_scale": ("check_min_max_scale",),
    "hessian_condition_number": ("check_hessian_condition_number",),
    "standardize_split": ("check_standardize_split",),
}


def _solution_source() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "def " in c.source]
    return "import numpy as np\n" + "\n\n".join(cells)


def _functions(replace: dict[str, tuple[str, str]] | None = None) -> dict:
    src = _solution_source()
    for old, new in (replace or {}).values():
        assert old in src, old
        src = src.replace(old, new)
    ns: dict = {}
    exec(compile(src, "<answer>", "exec"), ns)  # noqa: S102 - the course's own solution
    return ns


def _run(check: str, fn) -> tuple[float, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        score = getattr(checks, check)(fn, hidden=True)
    return float(score), out.getvalue()


def test_the_solution_gets_full_marks_on_the_hidden_cases():
    """Every check gives its full points to the solution notebook's functions."""
    ns = _functions()
    for name, names in CHECK_OF.items():
        for check in names:
            score, text = _run(check, ns[name])
            assert score == (1 if check.endswith("rejects") else 2), f"{check}:\n{text}"


MUTANTS = {
    "ddof1": ("fit_standardizer", ("np.mean((X - mean) ** 2, axis=0))", "np.var(X, axis=0, ddof=1))")),
    "wrong_axis": (
        "fit_standardizer",
        ("mean = X.mean(axis=0)  # (D,)\n    std = np.sqrt(np.mean((X - mean) ** 2, axis=0))",
         "mean = X.mean(axis=1)\n    std = X.std(axis=1)"),
    ),
    "variance": ("standardize", ("(X - mean) / safe)", "(X - mean) / safe**2)")),
    "no_mean": ("standardize", ("(X - mean) / safe)", "X / safe)")),
    "nan_constant": ("standardize", ("np.where(constant, 0.0, (X - mean) / safe)", "(X - mean) / std")),
    "minmax_own": ("min_max_scale", ("    span = np.asarray(hi", "    lo, hi = X.min(0), X.max(0)\n    span = np.asarray(hi")),
    "leak": ("standardize_split", ("fit_standardizer(X_train)", "fit_standardizer(np.vstack([X_train, X_test]))")),
    "fit_on_test": ("standardize_split", ("standardize(X_test, mean, std)", "standardize(X_test, *fit_standardizer(X_test))")),
    "singular_values": (
        "hessian_condition_number",
        ("eig = np.linalg.eigvalsh(X.T @ X / X.shape[0])", "eig = np.sort(np.linalg.svd(X, compute_uv=False))"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(MUTANTS))
def test_each_named_mistake_is_named_and_gets_at_most_half(key):
    """The mistake's message appears and its function's check gives at most half."""
    name, replacement = MUTANTS[key]
    ns = _functions({key: replacement})
    check = CHECK_OF[name][0]
    score, text = _run(check, ns[name])
    assert score <= 1.0, f"{key}: {score}\n{text}"
    assert checks.MISTAKES[key][:60] in text, f"{key} not named:\n{text}"


def test_eigenvalues_without_dividing_by_n_is_not_a_mistake():
    """X^T X instead of X^T X / N: the same condition number, full marks, no diagnosis."""
    ns = _functions({"noN": ("X.T @ X / X.shape[0]", "X.T @ X")})
    score, text = _run("check_hessian_condition_number", ns["hessian_condition_number"])
    assert score == 2 and "singular values" not in text


@pytest.mark.parametrize(
    "returned", [None, "text", [1.0], {"a": 1}, np.array([np.nan]), -1.0, (1, 2, 3)]
)
def test_odd_returns_get_a_message_not_a_traceback(returned):
    """Whatever a function returns, every check prints a short message and scores 0."""
    for names in CHECK_OF.values():
        for check in names:
            score, text = _run(check, lambda *a, r=returned: r)
            assert score == 0 and "Traceback" not in text, f"{check} {returned!r}\n{text}"


def test_the_release_hides_the_solutions_and_hidden_cases():
    """The released notebook has no solution code and imports no hidden module."""
    text = json.dumps(
        nbformat.read(ROOT / "exercises" / "bn01_standardize" / "standardize.ipynb", 4)
    )
    assert "np.linalg.eigvalsh(X.T @ X" not in text and "hidden" not in text.lower().replace(
        "hidden inputs", ""
    )


def test_a_valueerror_subclass_naming_the_shape_in_other_spellings_counts():
    """A learner's own ValueError subclass is a ValueError; (2,3,4), [2, 3, 4], 2x3x4 name it."""

    class ShapeError(ValueError):
        pass

    # hidden shapes (2, 3, 4), (0, 3), (11,): "11" alone does not name a shape
    spellings = {str: 1.0, (lambda s: str(list(s))): 1.0, (lambda s: "x".join(map(str, s))): 2 / 3}
    for spell, want in spellings.items():

        def fit(X, spell=spell):
            X = np.asarray(X)
            if X.ndim != 2 or len(X) == 0:
                raise ShapeError(f"bad X: {spell(X.shape)}")
            return X.mean(0), X.std(0)

        score, text = _run("check_fit_standardizer_rejects", fit)
        assert score == pytest.approx(want, abs=1e-3), text

    def no_shape(X):
        raise ValueError("X must be 2-D")

    assert _run("check_fit_standardizer_rejects", no_shape)[0] == 0


def test_float32_arithmetic_gets_full_marks_and_one_pass_variance_fails_only_at_the_offset():
    """Float32 input may be computed in float32 (the output dtype is free); E[X^2] - E[X]^2
    is wrong only on the feature at 1e6 (its hint shows), not on ordinary random features."""

    def standardize32(X, mean, std):
        m, s = np.asarray(mean).astype(X.dtype), np.asarray(std).astype(X.dtype)
        const = s <= 1e-12 * np.maximum(1, np.abs(m))
        Z = (X - m) / np.where(const, np.ones_like(s), s)
        Z[:, const] = 0
        return Z

    def fit32(X):
        mean = X.mean(0)
        return mean.astype(np.float64), np.sqrt(((X - mean) ** 2).mean(0)).astype(np.float64)

    assert _run("check_standardize", standardize32)[0] == 2
    assert _run("check_fit_standardizer", fit32)[0] == 2

    def one_pass(X):
        X = np.asarray(X, np.float64)
        m = X.mean(0)
        return m, np.sqrt(np.abs((X**2).mean(0) - m**2))

    score, text = _run("check_fit_standardizer", one_pass)
    assert score == pytest.approx(1.6) and "mean(X**2) - mean**2" in text, text
