"""Checks for the assignment ``bn01_standardize``: standardizing inputs by hand (NumPy).

Book: chapter 1 (``book/01_standardizing.md``), sections ``ch1-two-ways``, ``ch1-hessian``
and ``ch1-leakage``; notebook ``exercises/bn01_standardize/standardize.ipynb``, which
imports this module as ``from bncourse.checks import bn01_standardize as checks``.

What it checks:

* ``fit_standardizer(X) -> (mean, std)``: per-feature mean and population (ddof=0)
  standard deviation, float64 arrays of shape (D,), for X (N, D) of any float dtype; a
  ``ValueError`` naming the shape for non-2-D input or N = 0;
* ``standardize(X, mean, std)``: ``(X - mean) / std``, constant features (``std <= 1e-12 *
  max(1, |mean|)``) mapped to 0;
* ``min_max_scale(X, lo, hi)``: ``(X - lo) / (hi - lo)``, features with ``hi == lo`` -> 0;
* ``hessian_condition_number(X)``: ``lambda_max / lambda_min`` of ``X^T X / N`` (``inf``
  when ``lambda_min <= 1e-12 lambda_max`` or X is all zeros); compared as ``log10``;
* ``standardize_split(X_train, X_test) -> (Z_train, Z_test)`` with training statistics.

Cases: the visible test cells show fixed cases; when the notebook is graded they score on
hidden cases of the same kind (``bncourse/checks/hidden/bn01_standardize.py``): other
shapes, a constant feature, a column of 3.7s, a feature at 1e6 with a small spread, float32
input. A case counts when all its outputs are right.

Named mistakes: :data:`MISTAKES` (one mutant each, compared on every case). Computing the
eigenvalues of ``X^T X`` without dividing by N is *not* a mistake: it gives the same
condition number and full marks.

Using the reference: calling anything in :data:`FORBIDDEN` scores 0 for that test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Output, Score, _Problem, _Stop, cmp, run_check, with_hidden

__all__ = [
    "FORBIDDEN",
    "MISTAKES",
    "Score",
    "check_fit_standardizer",
    "check_fit_standardizer_rejects",
    "check_hessian_condition_number",
    "check_min_max_scale",
    "check_standardize",
    "check_standardize_split",
    "cmp",
    "make_data",
]

#: What counts as using the reference: scikit-learn's scalers, the course's experiment
#: code and bnref's batch norm (which standardizes). NumPy itself is what you should use.
FORBIDDEN = (
    "sklearn.preprocessing",
    "bncourse.experiments",
    "bnref.numpy",
    "bnref.torch",
    "bncourse.checks.bn01_standardize._ref",
)

MISTAKES: dict[str, str] = {
    "ddof1": (
        "Your std divides by N - 1 (ddof=1). Standardization here, like BN's batch "
        "statistics, uses the population std: np.std(X, axis=0) with the default ddof=0."
    ),
    "wrong_axis": (
        "Your statistics are per sample (axis=1), one per row. Each feature is a column: "
        "take the mean and std over the rows, axis=0, giving shape (D,)."
    ),
    "variance": (
        "You use the variance where the standard deviation belongs: divide by std = "
        "sqrt(variance), so that each feature ends with spread 1."
    ),
    "no_mean": ("You divide by the std but forgot to subtract the mean first: (X - mean) / std."),
    "nan_constant": (
        "A constant feature gives NaN or infinity (0 / 0): map features with std <= 1e-12 * "
        "max(1, |mean|) to 0, e.g. with np.where, without dividing by their std."
    ),
    "minmax_own": (
        "You use the data's own min and max instead of the bounds lo and hi you were "
        "given. Test data must be scaled with the training bounds (it may then fall "
        "outside [0, 1]): (X - lo) / (hi - lo)."
    ),
    "leak": (
        "Your statistics come from the training AND test rows together: that leaks the test "
        "split into the model. Fit the mean and std on X_train only."
    ),
    "fit_on_test": (
        "Your test split is standardized with its own statistics. At inference the model "
        "must use the training statistics (a single test example has no spread at all)."
    ),
    "singular_values": (
        "You return the ratio of the singular values of X: that is the square root of the "
        "condition number of X^T X / N (its eigenvalues are the squared singular values "
        "over N)."
    ),
}

HINTS = {
    "float32": (
        "It is wrong only on the float32 input: convert X to float64 first "
        "(np.asarray(X, dtype=np.float64)); the statistics must be float64."
    ),
    "offset": (
        "It is wrong only on the feature with a huge mean (about 1e6) and a small spread: "
        "compute the variance as the mean of (X - mean)**2; mean(X**2) - mean**2 loses "
        "every digit to cancellation."
    ),
    "near_constant": (
        "It is wrong only on the column of 3.7s: its computed std is about 1e-16, not 0. "
        "Treat a feature as constant when std <= 1e-12 * max(1, |mean|), not when std == 0."
    ),
    "flat": "It is wrong only where hi == lo: such a feature maps to 0.",
    "constant": (
        "It is wrong only on the cases with a constant feature (std 0): such a feature maps "
        "to 0, in the test split too, even where its test values differ from the training "
        "constant (and std itself must not be changed between the two uses)."
    ),
    "singular": (
        "It is wrong only on a singular X (duplicate columns or all zeros): return "
        "np.inf when the smallest eigenvalue is <= 1e-12 times the largest."
    ),
}

_CONST = 1e-12  # a feature is constant when std <= _CONST * max(1, |mean|)


# ----------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------
def make_data(shape, seed, *, dtype="float64", constant=None, near_constant=None,
              offset=None) -> np.ndarray:  # fmt: skip
    """A seeded (N, D) array: features with random means and spreads, optional specials.

    ``constant``: index of a feature that is exactly 0 everywhere; ``near_constant``: a
    feature of 3.7s (computed std ~1e-16); ``offset``: a feature at 1e6 with spread 0.01.

    The spreads differ by up to five orders of magnitude between features, but each
    feature's mean is at most 30 of its own spreads from 0: only the ``offset`` feature is
    numerically hard (a one-pass variance or float32 arithmetic fails there and only there;
    a random feature at 5000 with spread 0.002 would make them fail by chance).
    """
    rng = np.random.default_rng(seed)
    N, D = shape
    scale = rng.uniform(0.2, 3.0, D) * 10.0 ** rng.integers(-2, 3, D)
    loc = rng.uniform(-30, 30, D) * scale
    X = loc + scale * rng.standard_normal((N, D))  # (N, D)
    if constant is not None:
        X[:, constant] = 0.0
    if near_constant is not None:
        X[:, near_constant] = 3.7
    if offset is not None:
        X[:, offset] = 1e6 + 0.01 * rng.standard_normal(N)
    return X.astype(dtype)


_U32 = float(np.finfo(np.float32).eps)


def _f32_atol(X, center, scale) -> float:
    """What float32 arithmetic may be off by in ``(X - center) / scale``, per feature.

    Rounding ``X``, ``center`` and the difference to float32 costs about ``u (|X| +
    |center|)``, divided by ``scale``: the check allows 8 times that (features with a
    zero scale map to 0 and are left out), at most 1e-3, so that a case float32 cannot
    compute (a mean of 1e6 with a spread of 0.01) never lets a wrong answer pass. Float32
    input leaves the output dtype free, so an answer that computes in float32 must pass;
    the cases keep this far below the size of every named mistake.
    """
    X = np.asarray(X, np.float64)
    center, scale = np.asarray(center, np.float64), np.asarray(scale, np.float64)
    keep = scale > _CONST * np.maximum(1.0, np.abs(center))
    if not keep.any():
        return 0.0
    size = np.abs(X[:, keep]).max(axis=0) + np.abs(center[keep])
    return min(float(8 * _U32 * np.max(size / scale[keep])), 1e-3)


def _tags(spec) -> frozenset:
    keys = {"constant": "constant", "near_constant": "near_constant", "offset": "offset"}
    tags = {tag for key, tag in keys.items() if spec.get(key) is not None}
    if spec.get("dtype", "float64") == "float32":
        tags.add("float32")
    return frozenset(tags)


_ID = "bn01_standardize"  # hidden cases: bncourse/checks/hidden/<_ID>.py


# ----------------------------------------------------------------------------------------
# references and mutants, in float64
# ----------------------------------------------------------------------------------------
def _stats(X, ddof=0):
    X = np.asarray(X, np.float64)
    return X.mean(axis=0), X.std(axis=0, ddof=ddof)


def _apply(X, mean, std, *, power=1, center=True, guard=True):
    X = np.asarray(X, np.float64)
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    const = std <= _CONST * np.maximum(1.0, np.abs(mean))
    with np.errstate(all="ignore"):
        z = ((X - mean) if center else X) / std**power
    return np.where(const, 0.0, z) if guard else z


def _ref_fit(case):
    return _stats(case.inputs["X"])


def _ref_standardize(case):
    i = case.inputs
    return (_apply(i["X"], i["mean"], i["std"]),)


def _ref_minmax(case):
    i = case.inputs
    X, lo, hi = (np.asarray(i[k], np.float64) for k in ("X", "lo", "hi"))
    with np.errstate(all="ignore"):
        return (np.where(hi == lo, 0.0, (X - lo) / (hi - lo)),)


def _log_kappa(kappa: float) -> np.ndarray:
    """The compared form of a condition number: log10, with inf as 1000."""
    return np.array(1000.0 if np.isinf(kappa) else np.log10(kappa))


def _kappa(X) -> float:
    X = np.asarray(X, np.float64)
    eig = np.linalg.eigvalsh(X.T @ X / len(X))
    if eig[-1] <= 0 or eig[0] <= 1e-12 * eig[-1]:
        return np.inf
    return float(eig[-1] / eig[0])


def _ref_kappa(case):
    return (_log_kappa(_kappa(case.inputs["X"])),)


def _singular_values(case):
    return (_log_kappa(np.sqrt(_kappa(case.inputs["X"]))),)


def _split(X_train, X_test, *, fit=None, ddof=0, power=1, center=True, guard=True, test=None):
    mean, std = _stats(X_train if fit is None else fit, ddof)
    z_train = _apply(X_train, mean, std, power=power, center=center, guard=guard)
    if test is not None:
        mean, std = _stats(X_test, ddof)
    return z_train, _apply(X_test, mean, std, power=power, center=center, guard=guard)


def _ref_split(case):
    return _split(case.inputs["X_train"], case.inputs["X_test"])


_FIT_MUTANTS = {
    "ddof1": lambda c: _stats(c.inputs["X"], ddof=1),
    "wrong_axis": lambda c: (
        np.asarray(c.inputs["X"], np.float64).mean(axis=1),
        np.asarray(c.inputs["X"], np.float64).std(axis=1),
    ),  # fmt: skip
    "variance": lambda c: (_stats(c.inputs["X"])[0], _stats(c.inputs["X"])[1] ** 2),
}


def _std_mutant(**kw):
    return lambda c: (_apply(c.inputs["X"], c.inputs["mean"], c.inputs["std"], **kw),)


_STANDARDIZE_MUTANTS = {
    "variance": _std_mutant(power=2),
    "no_mean": _std_mutant(center=False),
    "nan_constant": _std_mutant(guard=False),
}


def _minmax_own(case):
    X = np.asarray(case.inputs["X"], np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    with np.errstate(all="ignore"):
        return (np.where(hi == lo, 0.0, (X - lo) / (hi - lo)),)


def _split_mutant(**kw):
    def m(c):
        i = c.inputs
        if kw.get("fit") == "both":
            return _split(i["X_train"], i["X_test"], fit=np.vstack([i["X_train"], i["X_test"]]))
        return _split(i["X_train"], i["X_test"], **kw)

    return m


_SPLIT_MUTANTS = {
    "leak": _split_mutant(fit="both"),
    "fit_on_test": _split_mutant(test=True),
    "ddof1": _split_mutant(ddof=1),
    "variance": _split_mutant(power=2),
    "no_mean": _split_mutant(center=False),
    "nan_constant": _split_mutant(guard=False),
}


def _ref(name):
    """The reference computation of one function, for the instructor's own checks."""
    return {"fit": _ref_fit, "kappa": _kappa}[name]


# ----------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------
def _fit_case(label, shape, seed, *, dtype="float64", hidden=False, **special) -> Case:
    X = make_data(shape, seed, dtype=dtype, **special)
    tags = _tags({"dtype": dtype, **special})
    # float32 X: float64 statistics, right to float32 rounding (computed in float32 is fine)
    return Case(label, {"X": X}, dtype="float64", rtol=1e-5 if dtype == "float32" else None,
                hidden=hidden, tags=tags)  # fmt: skip


def _standardize_case(label, shape, seed, *, dtype="float64", hidden=False, **special) -> Case:
    X = make_data(shape, seed, dtype=dtype, **special)
    mean, std = _stats(X)
    tags = _tags({"dtype": dtype, **special})
    # float32 X: the output dtype is yours to choose; the values must match to float32 rounding
    f32 = dtype == "float32"
    return Case(label, {"X": X, "mean": mean, "std": std}, dtype=None, rtol=1e-6 if f32 else None,
                atol=_f32_atol(X, mean, std) if f32 else 0.0, hidden=hidden, tags=tags)  # fmt: skip


def _minmax_case(label, shape, seed, *, flat=None, hidden=False, dtype="float64") -> Case:
    X_train = make_data(shape, seed, dtype=dtype)
    X = make_data((shape[0] + 3, shape[1]), seed, dtype=dtype)  # same feature scales
    X = X + 0.3 * (X_train.max(0) - X_train.min(0)) * np.sign(np.arange(len(X)) % 2 - 0.5)[:, None]
    X = X.astype(dtype)  # the shift above is float64
    lo, hi = X_train.min(0).astype(np.float64), X_train.max(0).astype(np.float64)
    if flat is not None:
        lo[flat] = hi[flat] = 2.5
    tags = frozenset({"flat"} if flat is not None else set())
    f32 = dtype == "float32"
    return Case(label, {"X": X, "lo": lo, "hi": hi}, dtype=None, rtol=1e-6 if f32 else None,
                atol=_f32_atol(X, lo, hi - lo) if f32 else 0.0, hidden=hidden,
                tags=tags)  # fmt: skip


def _kappa_case(label, shape, seed, *, kind="random", hidden=False, dtype="float64") -> Case:
    rng = np.random.default_rng(seed)
    N, D = shape
    if kind == "zeros":
        X = np.zeros(shape)
    elif kind == "duplicate":
        X = rng.standard_normal(shape)
        X[:, -1] = X[:, 0]
    elif kind == "scaled":  # features on very different scales: kappa 1e4 .. 1e9
        X = rng.standard_normal(shape) * 10.0 ** np.linspace(0, 4, D)
    else:
        X = rng.standard_normal(shape) * rng.uniform(0.5, 3, D) + rng.uniform(-2, 2, D)
    tags = frozenset({"singular"} if kind in ("zeros", "duplicate") else set())
    return Case(label, {"X": X.astype(dtype)}, dtype=None, rtol=1e-5, hidden=hidden, tags=tags)


def _split_case(label, shape, seed, *, dtype="float64", hidden=False, test_rows=7,
                **special) -> Case:  # fmt: skip
    X = make_data((shape[0] + test_rows, shape[1]), seed, dtype=dtype, **special)
    X_test = X[shape[0] :] + np.asarray(1.5 * X[: shape[0]].std(0), X.dtype)  # a shifted test split
    if special.get("constant") is not None:
        X_test[:, special["constant"]] = 1.0  # unseen values of a constant feature -> 0
    tags = _tags({"dtype": dtype, **special})
    f32 = dtype == "float32"
    atol = _f32_atol(np.vstack([X[: shape[0]], X_test]), *_stats(X[: shape[0]])) if f32 else 0.0
    return Case(label, {"X_train": X[: shape[0]], "X_test": X_test}, dtype=None,
                rtol=1e-6 if f32 else None, atol=atol, hidden=hidden, tags=tags)  # fmt: skip


# ----------------------------------------------------------------------------------------
# running the learner's code
# ----------------------------------------------------------------------------------------
def _fit_learner(fn):
    def learner(call, case):
        res = call(fn, case.inputs["X"])
        return call.unpack(res, ("mean", "std"), fn)

    return learner


def _flag(call, a):
    """``a`` itself; a note when it holds NaN or infinity (the core matches a NaN-making
    mistake's mutant NaN for NaN, and shows the learner's NaN as NaN)."""
    if isinstance(a, np.ndarray) and a.dtype.kind in "fc" and not np.isfinite(a).all():
        call.note("not_finite")
    return a


def _one(fn, *keys):
    def learner(call, case):
        return (_flag(call, call(fn, *(case.inputs[k] for k in keys))),)

    return learner


def _kappa_learner(fn):
    def learner(call, case):
        got = call(fn, case.inputs["X"])
        try:
            value = float(np.asarray(got, dtype=np.float64).reshape(()))
        except (TypeError, ValueError) as e:
            raise _Problem("bad_return", f"hessian_condition_number returned {type(got).__name__}, "
                           "not one number") from e  # fmt: skip
        if np.isnan(value) or value <= 0:
            raise _Problem("bad_return", f"hessian_condition_number returned {value!r}; a "
                           "condition number is >= 1 (or inf)")  # fmt: skip
        print(f"  condition number: yours {value:.6g}, expected {_kappa(case.inputs['X']):.6g}")
        return (_log_kappa(value),)

    return learner


def _split_learner(fn):
    def learner(call, case):
        res = call(fn, case.inputs["X_train"], case.inputs["X_test"])
        return tuple(_flag(call, z) for z in call.unpack(res, ("Z_train", "Z_test"), fn))

    return learner


def _names_shape(message: str, shape: tuple) -> bool:
    """Whether ``message`` names ``shape``: (2, 3, 4), (2,3,4), [2, 3, 4] or 2x3x4."""
    text = message.replace(" ", "")
    dims = [str(int(n)) for n in shape]
    spelled = {
        str(tuple(dims)).replace("'", "").replace(" ", ""),
        "[" + ",".join(dims) + "]",
        "x".join(dims) if len(dims) > 1 else "",
        "×".join(dims) if len(dims) > 1 else "",
    }
    return any(s and s in text for s in spelled)


def _rejects_learner(fn):
    def learner(call, case):
        X = case.inputs["X"]
        shape = str(tuple(X.shape))
        try:
            call(fn, X)
        except _Stop:
            raise
        except _Problem as e:
            if not isinstance(e.__cause__, ValueError):
                print(f"  it raised, but not a ValueError: {e.detail.splitlines()[0]}")
                return (np.array(0.0),)
            if not _names_shape(str(e.__cause__), X.shape):
                print(f"  the ValueError's message should name the shape {shape}")
                return (np.array(0.0),)
            return (np.array(1.0),)
        print(f"  X of shape {shape} was accepted; expected a ValueError naming the shape")
        return (np.array(0.0),)

    return learner


def _run(title, points, cases, outputs, learner, reference, mutants=None) -> Score:
    return run_check(title, points, cases, outputs, learner, reference, mutants=mutants or {},
                     messages=MISTAKES, forbidden=FORBIDDEN, hints=HINTS)  # fmt: skip


# ----------------------------------------------------------------------------------------
# the checks the notebook calls
# ----------------------------------------------------------------------------------------
def check_fit_standardizer(
    fit_standardizer: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``fit_standardizer(X) -> (mean, std)``: float64 (D,) arrays, ddof=0 (visible: (40, 5)).

    Book: chapter 1, section ``ch1-two-ways``. ``hidden``: score on the hidden cases
    (default: when the notebook is being graded).
    """
    visible = [_fit_case("X (40, 5) float64", (40, 5), 101)]
    return _run("check_fit_standardizer: fit_standardizer(X) -> (mean, std)", points,
                with_hidden(visible, _ID, "FIT", _fit_case, hidden),
                (Output("mean"), Output("std")), _fit_learner(fit_standardizer), _ref_fit,
                _FIT_MUTANTS)  # fmt: skip


def check_fit_standardizer_rejects(
    fit_standardizer: Callable, points: float = 1, hidden: bool | None = None
) -> Score:
    """Non-2-D X or N = 0: a ``ValueError`` whose message names the shape (visible: (6,))."""

    def case(label, shape, hidden=False):
        return Case(label, {"X": np.ones(shape)}, dtype=None, hidden=hidden)

    visible = [case("X of shape (6,)", (6,))]
    return _run("check_fit_standardizer_rejects: bad shapes raise ValueError", points,
                with_hidden(visible, _ID, "REJECT", case, hidden), (Output("raises"),),
                _rejects_learner(fit_standardizer), lambda c: (np.array(1.0),))  # fmt: skip


def check_standardize(
    standardize: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``standardize(X, mean, std)``: (X - mean) / std, constant features -> 0.

    Visible: (30, 4) with feature 2 constant. Book: chapter 1, sections ``ch1-two-ways``
    and ``ch1-leakage``.
    """
    visible = [_standardize_case("X (30, 4), feature 2 constant", (30, 4), 202, constant=2)]
    return _run("check_standardize: standardize(X, mean, std) -> Z", points,
                with_hidden(visible, _ID, "STANDARDIZE", _standardize_case, hidden),
                (Output("Z"),), _one(standardize, "X", "mean", "std"), _ref_standardize,
                _STANDARDIZE_MUTANTS)  # fmt: skip


def check_min_max_scale(
    min_max_scale: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``min_max_scale(X, lo, hi)``: lo -> 0, hi -> 1 per feature; values may leave [0, 1].

    Visible: (23, 3) test data scaled with bounds from other (training) data. Book:
    chapter 1, section ``ch1-two-ways``.
    """
    visible = [_minmax_case("X (23, 3), bounds from training data", (20, 3), 303)]
    return _run("check_min_max_scale: min_max_scale(X, lo, hi) -> X_scaled", points,
                with_hidden(visible, _ID, "MINMAX", _minmax_case, hidden), (Output("X_scaled"),),
                _one(min_max_scale, "X", "lo", "hi"), _ref_minmax,
                {"minmax_own": _minmax_own})  # fmt: skip


def check_hessian_condition_number(
    hessian_condition_number: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``hessian_condition_number(X)``: lambda_max / lambda_min of X^T X / N, or inf.

    Compared as log10 (inf as 1000), to a relative 1e-5. Visible: (50, 3). Book: chapter 1,
    section ``ch1-hessian``.
    """
    visible = [_kappa_case("X (50, 3)", (50, 3), 404)]
    return _run("check_hessian_condition_number: hessian_condition_number(X) -> kappa", points,
                with_hidden(visible, _ID, "KAPPA", _kappa_case, hidden), (Output("log10 kappa"),),
                _kappa_learner(hessian_condition_number), _ref_kappa,
                {"singular_values": _singular_values})  # fmt: skip


def check_standardize_split(
    standardize_split: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``standardize_split(X_train, X_test)``: both splits with the training statistics.

    Visible: 30 training and 7 (shifted) test rows, 4 features. Book: chapter 1, section
    ``ch1-leakage``.
    """
    visible = [_split_case("X_train (30, 4), X_test (7, 4)", (30, 4), 505)]
    return _run("check_standardize_split: standardize_split(X_train, X_test) -> (Z_train, Z_test)",
                points, with_hidden(visible, _ID, "SPLIT", _split_case, hidden),
                (Output("Z_train"), Output("Z_test")), _split_learner(standardize_split),
                _ref_split, _SPLIT_MUTANTS)  # fmt: skip
