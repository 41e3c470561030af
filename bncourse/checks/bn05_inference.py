"""Checks for the assignment ``bn05_inference``: BN at training and at inference (NumPy).

Book: chapter 5 (``book/05_train_inference.md``, label ``train-vs-inference``); notebook
``exercises/bn05_inference/bn_inference.ipynb``, which imports this module as
``from bncourse.checks import bn05_inference as checks``.

What it checks:

* ``class BatchNorm(num_features, momentum=0.1, eps=1e-5)``: attributes ``gamma``, ``beta``
  (ones, zeros), ``running_mean``, ``running_var`` (zeros, ones), ``num_batches_tracked``
  (0), ``momentum``, ``eps``; ``forward(x, training)`` for x of shape (N, D):

  - training: batch statistics (biased variance, eps inside the square root), and the
    running statistics updated as PyTorch does, ``running = (1 - m) running + m batch``
    with the *unbiased* batch variance, ``m = 1 / num_batches_tracked`` (after the
    increment) when ``momentum`` is None; N = 1 raises ``ValueError``;
  - inference: the running statistics, nothing changed (N = 1 works);

* ``convert_momentum(momentum, src, dst)``, ``src``, ``dst`` in {"torch", "keras"}:
  ``m_torch = 1 - m_keras``; any other name raises ``ValueError``;
* ``fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5) -> (W', b')``:
  ``s = gamma / sqrt(running_var + eps)``, ``W' = W * s[:, None]``,
  ``b' = (b - running_mean) * s + beta`` (``b`` None counts as 0);
* ``recalibrate(bn, batches)``: running statistics reset and re-estimated as the
  cumulative average over ``batches`` (a list or a generator); ``momentum``, ``gamma``,
  ``beta`` unchanged; ``num_batches_tracked`` = the number of batches. It is called on the
  course's own ``BatchNorm`` (same attributes as yours), so a bug in your class costs
  points once, not twice.

Running statistics may be updated in place or replaced: they are read (copied) after the
last call. Cases: the visible test cells show fixed cases; when the notebook is graded
they score on hidden cases (``bncourse/checks/hidden/bn05_inference.py``): other sizes,
momenta (None included), eps, a feature with variance about 1e-6, N = 2, N = 1 at
inference, float32 input, a generator of batches.

Named mistakes: :data:`MISTAKES` (one mutant each, compared on every case). Changing an
input in place costs 25% of that test (the core's rule).

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
    "check_batchnorm_init",
    "check_convert_momentum",
    "check_fold_bn",
    "check_forward_inference",
    "check_forward_training",
    "check_recalibrate",
    "check_rejects_single_example",
    "cmp",
]

ASSIGNMENT = "bn05_inference"

#: What counts as using the reference: bnref (its running-statistics update, momentum
#: converter and folding), PyTorch's and Keras's BN and fusion, the course's experiments.
FORBIDDEN = (
    "bnref.numpy",
    "bnref.torch",
    "torch.nn.functional.batch_norm",
    "torch.nn.modules.batchnorm",
    "torch.nn.BatchNorm1d",
    "torch.nn.utils.fusion",
    "torch.nn.utils.fuse_linear_bn_eval",
    "torch.nn.utils.fuse_linear_bn_weights",
    "keras.layers.BatchNormalization",
    "keras.src.layers.normalization.batch_normalization",
    "bncourse.experiments",
)

MISTAKES: dict[str, str] = {
    "biased_running_var": (
        "Your running variance is fed the biased batch variance (divide by N). PyTorch "
        "stores the unbiased one: batch_var * N / (N - 1) goes into the running average, "
        "while the normalization itself still uses the biased variance."
    ),
    "momentum_swapped": (
        "Your momentum weights the old value: running = m * running + (1 - m) * batch is the "
        "Keras/CS231n convention. In PyTorch's, momentum = 0.1 is the weight of the NEW "
        "value: running = (1 - m) * running + m * batch."
    ),
    "eps_outside_sqrt": (
        "eps is added outside the square root: (x - mu) / (sqrt(var) + eps). It belongs "
        "inside, (x - mu) / sqrt(var + eps); the two differ a lot for a feature whose "
        "variance is near eps or below."
    ),
    "no_count": (
        "num_batches_tracked stays where it was: increment it by one at every training "
        "step (momentum=None needs it: the cumulative average uses 1 / num_batches_tracked)."
    ),
    "inference_batch_stats": (
        "In inference your forward normalizes with the batch's own statistics. At "
        "inference the prediction for one example must not depend on the rest of the "
        "batch: use running_mean and running_var."
    ),
    "updates_in_inference": (
        "Your forward changes the running statistics (or num_batches_tracked) in "
        "inference. Only training updates them; inference reads them and changes nothing."
    ),
    "fold_bias_no_mean": (
        "Your folded bias misses the -running_mean * gamma / sigma term: "
        "b' = (b - running_mean) * gamma / sqrt(running_var + eps) + beta."
    ),
    "fold_bias_no_b": (
        "Your folded bias drops the layer's own bias b: "
        "b' = (b - running_mean) * gamma / sqrt(running_var + eps) + beta (b = 0 only when "
        "b is None)."
    ),
    "fold_variance": (
        "You scale by gamma / (running_var + eps), dividing by the variance. BN divides "
        "by the standard deviation: gamma / sqrt(running_var + eps)."
    ),
    "recal_ema": (
        "Your recalibration is an exponential moving average (the layer's momentum), "
        "which keeps weighting the reset values 0 and 1. Set momentum to None for the pass "
        "(cumulative average: every batch weighs the same), then restore it."
    ),
    "recal_no_reset": (
        "Your recalibration does not reset first: the old running statistics and "
        "num_batches_tracked still count. Set running_mean to zeros, running_var to ones "
        "and num_batches_tracked to 0 before the pass."
    ),
    "momentum_left_none": (
        "After recalibrate the layer's momentum is still None: restore the momentum it "
        "had, or later training steps will use the cumulative average."
    ),
    "always_raises": (
        "Your forward raises also for a valid batch (N = 3 in training): the test needs a "
        "forward that works for N > 1 and raises a ValueError only for N = 1."
    ),
    "single_example": (
        "With N = 1 in training there is no batch variance (and the unbiased one divides "
        "by N - 1 = 0): raise a ValueError."
    ),
}

HINTS = {
    "tiny_var": (
        "It is wrong only on the cases with a feature whose variance is about 1e-6: "
        "look at where eps goes (inside the square root)."
    ),
    "cumulative": (
        "It is wrong only where momentum is None: then each step uses momentum "
        "1 / num_batches_tracked, counted after the increment (the cumulative average)."
    ),
    "one_row": "It is wrong only on a batch of one example (N = 1) at inference.",
    "no_bias": "It is wrong only where b is None: treat it as zeros and return an array.",
    "float32": "It is wrong only on float32 input: compute in float64 (np.asarray(x, np.float64)).",
}

_NONE = -1.0  # momentum None, as a compared number
_MOMENTUM = "momentum (None shown as -1)"  # the output's name says how None is compared


# ----------------------------------------------------------------------------------------
# the course's BatchNorm (float64): the reference, and the layer recalibrate is given
# ----------------------------------------------------------------------------------------
class _RefBatchNorm:
    """The course's BatchNorm: same attributes and behaviour as the learner's."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        x = np.asarray(x, np.float64)
        if training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"training needs N > 1 examples, got x of shape {x.shape}")
            mu, var = x.mean(axis=0), x.var(axis=0)
            self.num_batches_tracked += 1
            m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)
        else:
            mu, var = self.running_mean, self.running_var
        return self.gamma * (x - mu) / np.sqrt(var + self.eps) + self.beta


def _simulate(case, *, biased=False, swapped=False, eps_out=False, count=True):
    """Training steps over case.inputs["xs"]: (y of all steps, running mean, var, count)."""
    i = case.inputs
    rm, rv, t = np.zeros(i["D"]), np.ones(i["D"]), 0
    ys = []
    for x in i["xs"]:
        x = np.asarray(x, np.float64)
        n = len(x)
        mu, var = x.mean(0), x.var(0)
        sd = np.sqrt(var) + i["eps"] if eps_out else np.sqrt(var + i["eps"])
        ys.append(i["gamma"] * (x - mu) / sd + i["beta"])
        t += 1
        m = 1.0 / (t if count else 1) if i["momentum"] is None else i["momentum"]
        w = 1 - m if swapped else m
        rm = (1 - w) * rm + w * mu
        rv = (1 - w) * rv + w * var * (1 if biased else n / (n - 1))
    return np.concatenate(ys), rm, rv, np.array(t if count else 0)


def _ref_training(case):
    return _simulate(case)


def _no_count(case):
    _, rm, rv, c = _simulate(case, count=False)
    if case.inputs["momentum"] is None:
        return None, None, None, c
    return None, rm, rv, c


_TRAIN_MUTANTS = {
    "biased_running_var": lambda c: _simulate(c, biased=True),
    "momentum_swapped": lambda c: _simulate(c, swapped=True),
    "eps_outside_sqrt": lambda c: _simulate(c, eps_out=True),
    "no_count": _no_count,
}


def _ref_inference(case, *, batch=False, eps_out=False):
    i = case.inputs
    x = np.asarray(i["x"], np.float64)
    mu, var = (x.mean(0), x.var(0)) if batch else (i["running_mean"], i["running_var"])
    sd = np.sqrt(var) + i["eps"] if eps_out else np.sqrt(var + i["eps"])
    y = i["gamma"] * (x - mu) / sd + i["beta"]
    return y, i["running_mean"], i["running_var"], np.array(i["count"])


def _updates_in_inference(case):
    i = case.inputs
    x = np.asarray(i["x"], np.float64)
    t = i["count"] + 1
    m = 1.0 / t if i["momentum"] is None else i["momentum"]
    n = len(x)
    rv_new = x.var(0) * n / (n - 1) if n > 1 else x.var(0)
    rm = (1 - m) * i["running_mean"] + m * x.mean(0)
    rv = (1 - m) * i["running_var"] + m * rv_new
    return None, rm, rv, np.array(t)


_INFER_MUTANTS = {
    "inference_batch_stats": lambda c: _ref_inference(c, batch=True)[:1] + (None,) * 3,
    "updates_in_inference": _updates_in_inference,
    "eps_outside_sqrt": lambda c: _ref_inference(c, eps_out=True)[:1] + (None,) * 3,
}


def _ref_fold(case, *, power=0.5, mean=True, bias=True):
    i = case.inputs
    s = i["gamma"] / (i["running_var"] + i["eps"]) ** power
    b = np.zeros(len(s)) if i["b"] is None or not bias else np.asarray(i["b"], np.float64)
    b_folded = ((b - i["running_mean"]) if mean else b) * s + i["beta"]
    return np.asarray(i["W"], np.float64) * s[:, None], b_folded


_FOLD_MUTANTS = {
    "fold_bias_no_mean": lambda c: (None, _ref_fold(c, mean=False)[1]),
    "fold_bias_no_b": lambda c: (None, _ref_fold(c, bias=False)[1]),
    "fold_variance": lambda c: _ref_fold(c, power=1.0),
}


def _ref_recal(case, *, ema=False, reset=True):
    i = case.inputs
    D = i["D"]
    rm, rv, t = (np.zeros(D), np.ones(D), 0) if reset else (i["old_mean"], i["old_var"], i["count"])
    for x in i["batches"]:
        x = np.asarray(x, np.float64)
        n = len(x)
        t += 1
        m = i["momentum"] if ema and i["momentum"] is not None else 1.0 / t
        rm = (1 - m) * rm + m * x.mean(0)
        rv = (1 - m) * rv + m * x.var(0) * n / (n - 1)
    momentum = _NONE if i["momentum"] is None else i["momentum"]
    return rm, rv, np.array(t), np.array(momentum), i["gamma"], i["beta"]


def _momentum_none(case):
    return (None,) * 3 + (np.array(_NONE),) + (None,) * 2


_RECAL_MUTANTS = {
    "recal_ema": lambda c: _ref_recal(c, ema=True)[:2] + (None,) * 4,
    "recal_no_reset": lambda c: _ref_recal(c, reset=False)[:3] + (None,) * 3,
    "momentum_left_none": _momentum_none,
}


# ----------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------
def _data(rng, N, D, *, tiny=None, dtype="float64"):
    """(N, D): features with random means and spreads; feature ``tiny`` has std 1e-3."""
    loc = rng.uniform(-3, 3, D)
    scale = rng.uniform(0.3, 3.0, D)
    x = loc + scale * rng.standard_normal((N, D))
    if tiny is not None:
        x[:, tiny] = loc[tiny] + 1e-3 * rng.standard_normal(N)
    return x.astype(dtype)


def _params(rng, D):
    return rng.uniform(0.5, 2.0, D), rng.uniform(-1.0, 1.0, D)


def _tags(momentum=0.1, tiny=None, dtype="float64", **_):
    tags = set()
    if momentum is None:
        tags.add("cumulative")
    if tiny is not None:
        tags.add("tiny_var")
    if dtype == "float32":
        tags.add("float32")
    return tags


def _rtol(dtype):
    return 1e-5 if dtype == "float32" else None


def _init_case(label, D, momentum=0.1, eps=1e-5, *, defaults=False, hidden=False) -> Case:
    inputs = {"D": D, "momentum": momentum, "eps": eps, "defaults": defaults}
    return Case(label, inputs, dtype=None, hidden=hidden)


def _train_case(label, D, sizes, seed, *, momentum=0.1, eps=1e-5, tiny=None,
                dtype="float64", hidden=False) -> Case:  # fmt: skip
    rng = np.random.default_rng(seed)
    xs = [_data(rng, n, D, tiny=tiny, dtype=dtype) for n in sizes]
    gamma, beta = _params(rng, D)
    inputs = {"D": D, "xs": xs, "momentum": momentum, "eps": eps, "gamma": gamma, "beta": beta}
    tags = _tags(momentum, tiny, dtype)
    return Case(label, inputs, dtype=None, rtol=_rtol(dtype), hidden=hidden,
                tags=frozenset(tags))  # fmt: skip


def _infer_case(label, D, N, seed, *, momentum=0.1, eps=1e-5, tiny=None, count=5,
                dtype="float64", hidden=False) -> Case:  # fmt: skip
    rng = np.random.default_rng(seed)
    x = _data(rng, N, D, dtype=dtype)
    running_mean = rng.uniform(-2, 2, D)
    running_var = rng.uniform(0.5, 3.0, D)
    if tiny is not None:
        running_var[tiny] = 1e-6
    gamma, beta = _params(rng, D)
    inputs = {"D": D, "x": x, "momentum": momentum, "eps": eps, "gamma": gamma, "beta": beta,
              "running_mean": running_mean, "running_var": running_var, "count": count}  # fmt: skip
    tags = _tags(momentum, tiny, dtype) | ({"one_row"} if N == 1 else set())
    return Case(label, inputs, dtype=None, rtol=_rtol(dtype), hidden=hidden,
                tags=frozenset(tags))  # fmt: skip


def _reject_case(label, D, seed, *, hidden=False) -> Case:
    rng = np.random.default_rng(seed)
    x = _data(rng, 1, D)
    valid = _data(rng, 3, D)  # a batch it must accept: raising for everything earns nothing
    return Case(label, {"D": D, "x": x, "valid": valid}, dtype=None, hidden=hidden)


def _convert_case(label, calls, *, hidden=False) -> Case:
    """``calls``: (momentum, src, dst) triples; a None momentum marks a call that must raise."""
    return Case(label, {"calls": calls}, dtype=None, hidden=hidden)


def _fold_case(label, out, inp, seed, *, bias=True, eps=1e-5, tiny=None, hidden=False) -> Case:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((out, inp))
    b = rng.standard_normal(out) if bias else None
    running_mean = rng.uniform(-2, 2, out)
    running_var = rng.uniform(0.2, 4.0, out)
    if tiny is not None:
        running_var[tiny] = 1e-6
    gamma, beta = _params(rng, out)
    inputs = {"W": W, "b": b, "running_mean": running_mean, "running_var": running_var,
              "gamma": gamma, "beta": beta, "eps": eps}  # fmt: skip
    tags = set() if bias else {"no_bias"}
    return Case(label, inputs, dtype=None, hidden=hidden, tags=frozenset(tags))


def _recal_case(label, D, sizes, seed, *, momentum=0.1, generator=False, hidden=False) -> Case:
    rng = np.random.default_rng(seed)
    shift = rng.uniform(-2, 2, D)  # the deployment data: other statistics than the old ones
    batches = [_data(rng, n, D) * 1.5 + shift for n in sizes]
    gamma, beta = _params(rng, D)
    inputs = {"D": D, "batches": batches, "momentum": momentum, "generator": generator,
              "gamma": gamma, "beta": beta, "old_mean": rng.uniform(-1, 1, D),
              "old_var": rng.uniform(0.5, 2, D), "count": 7}  # fmt: skip
    return Case(label, inputs, dtype=None, hidden=hidden,
                tags=frozenset({"cumulative"} if momentum is None else set()))  # fmt: skip


# ----------------------------------------------------------------------------------------
# running the learner's code
# ----------------------------------------------------------------------------------------
def _set(obj, values):
    for key, value in values.items():
        setattr(obj, key, value)


def _get(obj, name):
    if not hasattr(obj, name):
        raise _Problem("bad_return", f"your BatchNorm has no attribute `{name}`")
    return getattr(obj, name)


def _momentum_value(value):
    if value is None:
        return np.array(_NONE)
    return value


def _make(call, BatchNorm, i):
    kw = {} if i.get("defaults") else {"momentum": i["momentum"], "eps": i["eps"]}
    bn = call(BatchNorm, i["D"], charge=False, watch=(), **kw)
    call(_set, bn, {"gamma": i["gamma"].copy(), "beta": i["beta"].copy()},
         charge=False, watch=())  # fmt: skip
    return bn


def _init_learner(BatchNorm):
    def learner(call, case):
        i = case.inputs
        kw = {} if i["defaults"] else {"momentum": i["momentum"], "eps": i["eps"]}
        bn = call(BatchNorm, i["D"], watch=(), **kw)
        names = ("gamma", "beta", "running_mean", "running_var", "num_batches_tracked")
        values = tuple(_get(bn, n) for n in names)
        return values + (_momentum_value(_get(bn, "momentum")), _get(bn, "eps"))

    return learner


def _ref_init(case):
    i = case.inputs
    D = i["D"]
    m, eps = (0.1, 1e-5) if i["defaults"] else (i["momentum"], i["eps"])
    return (np.ones(D), np.zeros(D), np.zeros(D), np.ones(D), np.array(0),
            np.array(_NONE if m is None else m), np.array(eps))  # fmt: skip


def _train_learner(BatchNorm):
    def learner(call, case):
        bn = _make(call, BatchNorm, case.inputs)
        ys = []
        for x in case.inputs["xs"]:
            y = call(bn.forward, x, True, watch=(0,))
            arr = np.asarray(y) if isinstance(y, np.ndarray) else y
            if not isinstance(arr, np.ndarray) or arr.shape != x.shape:
                shape = getattr(arr, "shape", type(y).__name__)
                raise _Problem("bad_return", f"forward returned {shape}; expected an array of "
                               f"the shape of x, {x.shape}")  # fmt: skip
            ys.append(np.array(arr, dtype=np.float64) if arr.dtype.kind in "fiu" else arr)
        return (np.concatenate(ys), _get(bn, "running_mean"), _get(bn, "running_var"),
                _get(bn, "num_batches_tracked"))  # fmt: skip

    return learner


def _infer_learner(BatchNorm):
    def learner(call, case):
        i = case.inputs
        bn = _make(call, BatchNorm, i)
        call(_set, bn, {"running_mean": i["running_mean"].copy(),
                        "running_var": i["running_var"].copy(),
                        "num_batches_tracked": i["count"]}, charge=False, watch=())  # fmt: skip
        y = call(bn.forward, i["x"], False, watch=(0,))
        return (y, _get(bn, "running_mean"), _get(bn, "running_var"),
                _get(bn, "num_batches_tracked"))  # fmt: skip

    return learner


def _value_error(problem: _Problem) -> bool:
    """Whether the learner's code raised a ValueError (a subclass of it counts too): the
    exception's type decides, never its text, as in the other assignments' checks."""
    return isinstance(problem.__cause__, ValueError)


def _accepts(call, BatchNorm, case) -> np.ndarray:
    """1 when forward(valid (3, D) batch, training=True) returns without raising."""
    bn = call(BatchNorm, case.inputs["D"], charge=False, watch=())
    valid = case.inputs["valid"]
    try:
        call(bn.forward, valid, True, charge=False)  # its in-place changes cost elsewhere
    except _Stop:
        raise
    except _Problem as e:
        print(f"  forward(x of shape {valid.shape}, training=True) raised: "
              f"{e.detail.splitlines()[0]}")  # fmt: skip
        return np.array(0.0)
    return np.array(1.0)


def _reject_learner(BatchNorm):
    def learner(call, case):
        bn = call(BatchNorm, case.inputs["D"], charge=False, watch=())
        x = case.inputs["x"]
        try:
            call(bn.forward, x, True, watch=(0,))
        except _Stop:
            raise
        except _Problem as e:
            if not _value_error(e):
                print(f"  it raised, but not a ValueError: {e.detail.splitlines()[0]}")
                return (np.array(0.0), _accepts(call, BatchNorm, case))
            return (np.array(1.0), _accepts(call, BatchNorm, case))
        print(f"  forward(x of shape {x.shape}, training=True) returned; expected a ValueError")
        call.note("single_example")
        return (np.array(0.0), _accepts(call, BatchNorm, case))

    return learner


def _convert_learner(convert_momentum):
    def learner(call, case):
        out = []
        for momentum, src, dst in case.inputs["calls"]:
            if momentum is not None:
                got = call(convert_momentum, momentum, src, dst)
                try:
                    out.append(float(np.asarray(got, dtype=np.float64).reshape(())))
                except (TypeError, ValueError) as e:
                    raise _Problem("bad_return", f"convert_momentum returned "
                                   f"{type(got).__name__}, not one number") from e  # fmt: skip
                continue
            try:
                call(convert_momentum, 0.1, src, dst)
            except _Stop:
                raise
            except _Problem as e:
                ok = _value_error(e)
                if not ok:
                    print(f"  ({src!r}, {dst!r}) raised, but not a ValueError")
                out.append(1.0 if ok else 0.0)
                continue
            print(f"  convert_momentum(0.1, {src!r}, {dst!r}) returned; expected a ValueError")
            out.append(0.0)
        return (np.array(out),)

    return learner


def _ref_convert(case):
    out = []
    for momentum, src, dst in case.inputs["calls"]:
        out.append(1.0 if momentum is None else (momentum if src == dst else 1.0 - momentum))
    return (np.array(out),)


def _fold_learner(fold_bn):
    def learner(call, case):
        i = case.inputs
        args = [i[k] for k in ("W", "b", "running_mean", "running_var", "gamma", "beta")]
        res = call(fold_bn, *args, eps=i["eps"])
        return call.unpack(res, ("W_folded", "b_folded"), fold_bn)

    return learner


def _recal_learner(recalibrate):
    def learner(call, case):
        i = case.inputs
        bn = _RefBatchNorm(i["D"], momentum=i["momentum"])
        bn.gamma, bn.beta = i["gamma"].copy(), i["beta"].copy()
        bn.running_mean, bn.running_var = i["old_mean"].copy(), i["old_var"].copy()
        bn.num_batches_tracked = i["count"]
        batches = [b.copy() for b in i["batches"]]
        given = (b for b in batches) if i["generator"] else batches
        res = call(recalibrate, bn, given, watch=())
        if res is not None:
            print(f"  (recalibrate returned a {type(res).__name__}; it should return None)")
        return (bn.running_mean, bn.running_var, bn.num_batches_tracked,
                _momentum_value(bn.momentum), bn.gamma, bn.beta)  # fmt: skip

    return learner


def _run(title, points, cases, outputs, learner, reference, mutants=None) -> Score:
    return run_check(title, points, cases, outputs, learner, reference, mutants=mutants or {},
                     messages=MISTAKES, forbidden=FORBIDDEN, hints=HINTS)  # fmt: skip


_STATE = (Output("running_mean"), Output("running_var"), Output("num_batches_tracked"))


# ----------------------------------------------------------------------------------------
# the checks the notebook calls
# ----------------------------------------------------------------------------------------
def check_batchnorm_init(BatchNorm: Callable, points: float = 1, hidden: bool | None = None
                         ) -> Score:  # fmt: skip
    """``BatchNorm(num_features, momentum=0.1, eps=1e-5)``: its initial attributes.

    Visible: ``BatchNorm(4)`` (the defaults). Book: chapter 5.
    """
    visible = [_init_case("BatchNorm(4)", 4, defaults=True)]
    outputs = (Output("gamma"), Output("beta")) + _STATE + (Output(_MOMENTUM), Output("eps"))
    return _run("check_batchnorm_init: BatchNorm(num_features, momentum, eps)", points,
                with_hidden(visible, ASSIGNMENT, "INIT", _init_case, hidden), outputs,
                _init_learner(BatchNorm), _ref_init)  # fmt: skip


def check_forward_training(BatchNorm: Callable, points: float = 3, hidden: bool | None = None
                           ) -> Score:  # fmt: skip
    """``forward(x, training=True)`` over 3 batches: outputs and running statistics.

    Visible: D = 3, batches of 8, 8 and 5, momentum 0.1, feature 1 with std 1e-3.
    """
    visible = [_train_case("D=3, batches of 8, 8, 5, momentum=0.1, feature 1 std 1e-3", 3,
                           (8, 8, 5), 501, tiny=1)]  # fmt: skip
    return _run("check_forward_training: BatchNorm.forward(x, training=True), 3 steps", points,
                with_hidden(visible, ASSIGNMENT, "TRAIN", _train_case, hidden),
                (Output("y (all steps)"),) + _STATE, _train_learner(BatchNorm), _ref_training,
                _TRAIN_MUTANTS)  # fmt: skip


def check_forward_inference(BatchNorm: Callable, points: float = 2, hidden: bool | None = None
                            ) -> Score:  # fmt: skip
    """``forward(x, training=False)``: running statistics used, nothing changed.

    Visible: D = 4, N = 6, given running statistics (feature 2's variance 1e-6).
    """
    visible = [_infer_case("D=4, N=6, running_var[2] = 1e-6", 4, 6, 502, tiny=2)]
    return _run("check_forward_inference: BatchNorm.forward(x, training=False)", points,
                with_hidden(visible, ASSIGNMENT, "INFER", _infer_case, hidden),
                (Output("y"),) + _STATE, _infer_learner(BatchNorm), _ref_inference,
                _INFER_MUTANTS)  # fmt: skip


def check_rejects_single_example(BatchNorm: Callable, points: float = 1,
                                 hidden: bool | None = None) -> Score:  # fmt: skip
    """``forward(x, training=True)`` with N = 1 raises ``ValueError`` (visible: (1, 3)); the
    same layer accepts a batch of 3, so a forward that raises for everything earns nothing."""
    visible = [_reject_case("x of shape (1, 3)", 3, 503)]
    return _run("check_rejects_single_example: N = 1 in training raises ValueError", points,
                with_hidden(visible, ASSIGNMENT, "REJECT", _reject_case, hidden),
                (Output("raises for N = 1"), Output("returns for N = 3")),
                _reject_learner(BatchNorm), lambda c: (np.array(1.0), np.array(1.0)),
                {"always_raises": lambda c: (None, np.array(0.0))})  # fmt: skip


def check_convert_momentum(convert_momentum: Callable, points: float = 1,
                           hidden: bool | None = None) -> Score:  # fmt: skip
    """``convert_momentum(momentum, src, dst)``; an unknown name raises ``ValueError``.

    Visible: 0.1 torch -> keras, 0.99 keras -> torch, 0.1 torch -> torch, and "tf".
    """
    visible = [_convert_case("0.1 torch->keras, 0.99 keras->torch, 0.1 torch->torch, 'tf'",
                             [(0.1, "torch", "keras"), (0.99, "keras", "torch"),
                              (0.1, "torch", "torch"), (None, "torch", "tf")])]  # fmt: skip
    return _run("check_convert_momentum: convert_momentum(momentum, src, dst)", points,
                with_hidden(visible, ASSIGNMENT, "CONVERT", _convert_case, hidden),
                (Output("results"),), _convert_learner(convert_momentum),
                _ref_convert)  # fmt: skip


def check_fold_bn(fold_bn: Callable, points: float = 2, hidden: bool | None = None) -> Score:
    """``fold_bn(W, b, running_mean, running_var, gamma, beta, eps) -> (W', b')``.

    Visible: a (4, 3) linear layer with a bias.
    """
    visible = [_fold_case("W (4, 3), b (4,)", 4, 3, 504)]
    return _run("check_fold_bn: fold_bn(W, b, ...) -> (W_folded, b_folded)", points,
                with_hidden(visible, ASSIGNMENT, "FOLD", _fold_case, hidden),
                (Output("W_folded"), Output("b_folded")), _fold_learner(fold_bn), _ref_fold,
                _FOLD_MUTANTS)  # fmt: skip


def check_recalibrate(recalibrate: Callable, points: float = 2, hidden: bool | None = None
                      ) -> Score:  # fmt: skip
    """``recalibrate(bn, batches)``: reset, cumulative average, momentum restored.

    Called on the course's BatchNorm (old statistics, num_batches_tracked = 7). Visible:
    D = 3, a list of 4 batches of 10, momentum 0.1.
    """
    visible = [_recal_case("D=3, 4 batches of 10 (a list), momentum=0.1", 3, (10,) * 4, 505)]
    outputs = _STATE + (Output(_MOMENTUM), Output("gamma"), Output("beta"))
    return _run("check_recalibrate: recalibrate(bn, batches)", points,
                with_hidden(visible, ASSIGNMENT, "RECAL", _recal_case, hidden), outputs,
                _recal_learner(recalibrate), _ref_recal, _RECAL_MUTANTS)  # fmt: skip
