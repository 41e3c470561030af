"""The machinery every assignment's checks share: cases, safe calls, comparison, diagnosis.

An assignment module (``bncourse/checks/bnNN_topic.py``) declares *what* it checks: its
cases (inputs), its outputs (names, tolerances), the reference, its mutants (one function
per named mistake, computing what that mistake computes) and which functions count as
"using the reference". :func:`run_check` does the rest, the same way for every assignment:

* calls the learner's code only through a :class:`Call`: on copies of the inputs, with a
  time limit, watching for calls to the forbidden reference, noting inputs changed in place;
  whatever the learner's code does (raise, loop, return the wrong thing) becomes a short
  message, never the checker's traceback;
* compares every output of every case with the reference: right shape alone earns
  nothing, a case earns its share only when every output is right (and has the dtype
  the case asks for);
* names a mistake only when its mutant matches the learner's output on *every* case;
  otherwise it says which output is wrong, by how much, on which case;
* returns a :class:`Score`: a float in ``[0, points]`` that nbgrader reads as partial
  credit, remembering the mistakes it found and everything it printed.

Scoring: the cases marked ``scored`` share the points equally. When the notebook is being
graded (``NBGRADER_EXECUTION=autograde``) an assignment scores its visible test cells on
hidden cases only (the visible case is still shown), so pasting the values a visible test
prints earns nothing. Changing an input in place costs :data:`MUTATION_SHARE` of the
check's points, once per check.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import linecache
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CALL_SECONDS",
    "MESSAGES",
    "MUTATION_SHARE",
    "Call",
    "Case",
    "Output",
    "Score",
    "cmp",
    "grading",
    "hidden_specs",
    "run_check",
    "with_hidden",
]

#: CPU seconds one call of the learner's code may use before it is stopped (CPU time, so a
#: loaded machine does not stop honest code; a sleeping cell meets the grader's cell limit).
CALL_SECONDS = 10.0
#: Share of a check's points that changing an input in place costs (once per check).
MUTATION_SHARE = 0.25
#: Default relative tolerance by dtype; ``tol = rtol * max(1, max|reference|) + atol``.
RTOL = {"float64": 1e-7, "float32": 1e-4, "float16": 1e-2, "bfloat16": 2e-2}

# Messages every assignment shares. An assignment's own MISTAKES are added to these.
MESSAGES: dict[str, str] = {
    "not_implemented": "Not implemented yet: the function raises NotImplementedError.",
    "raises": "Your function raised an exception (shown below); that case scores 0.",
    "bad_return": "Your function does not return what its docstring promises (see below).",
    "timeout": (
        "Your function did not finish on a small input within the time limit, so it was "
        "stopped (an endless loop?). It is not called again."
    ),
    "not_finite": (
        "Your output holds NaN or infinity where the reference is finite: look for a "
        "division by zero or the square root of a negative number."
    ),
    "wrong_dtype": (
        "Your output does not keep the input's dtype: float32 in must give float32 out "
        "(avoid float64 helper arrays such as np.zeros(shape) without dtype=x.dtype)."
    ),
    "wrong_shape": "Your output has the wrong shape (see below).",
    "modifies_input": (
        "Your function changes an input in place (for example x -= mu). Work on new "
        "arrays: x - mu makes a copy; the caller still needs its input. "
        f"This costs {MUTATION_SHARE:.0%} of this test's points."
    ),
    "calls_reference": (
        "Your code called the course's reference implementation of what this exercise asks "
        "you to write. Credit comes from your own implementation, so this test scores 0."
    ),
    "checker_error": (
        "The check itself failed on this input (a bug in the course, not in your code): "
        "this input is left out of your score. Please tell your instructor."
    ),
    "unknown": (
        "No common mistake this check knows matches your output on every case. Compare "
        "your code with the formulas, line by line, on a tiny input."
    ),
}

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The course's own packages (an editable install is outside site-packages): an exception
# raised in bnref's code is reported at the learner's line that called it.
_COURSE = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(_HERE))), pkg) + os.sep
    for pkg in ("bnref", "bncourse")
)


def grading() -> bool:
    """Whether the notebook is being graded (hidden cases run and score), not validated."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


# ----------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------
class Score(float):
    """A check's score: a float in ``[0, points]`` that also keeps what the check found.

    Its ``repr`` is a plain float, so a test cell can end with the check call itself and
    nbgrader reads the value as partial credit.

    Attributes
    ----------
    points : float
        The most this check gives.
    mistakes : tuple of str
        Keys of the messages printed (named mistakes and problems), in order, no repeats.
    report : str
        Everything the check printed.
    """

    points: float
    mistakes: tuple[str, ...]
    report: str

    def __new__(cls, value: float, points: float, mistakes=(), report: str = ""):
        value = min(max(round(float(value), 4), 0.0), float(points))
        self = super().__new__(cls, value)
        self.points = float(points)
        self.mistakes = tuple(dict.fromkeys(mistakes))
        self.report = report
        return self

    def __repr__(self) -> str:
        return float.__repr__(float(self))

    def __add__(self, other):  # Score + Score keeps what both found
        if isinstance(other, Score):
            return Score(
                float(self) + float(other),
                self.points + other.points,
                self.mistakes + other.mistakes,
                self.report + "\n" + other.report,
            )
        return float(self) + other


# ----------------------------------------------------------------------------------------
# numbers: arrays, tensors, scalars
# ----------------------------------------------------------------------------------------
class _Problem(Exception):
    """The learner's result cannot be scored on this case (key into MESSAGES, detail)."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(key)
        self.key, self.detail = key, detail


class _Stop(_Problem):
    """Stop the whole check (not implemented, reference used, time limit)."""


def _dtype_name(value) -> str | None:
    dt = getattr(value, "dtype", None)
    return None if dt is None else str(dt).replace("torch.", "")


def numeric(value, what: str = "output") -> np.ndarray:
    """``value`` (ndarray, torch tensor, number, nested list) as a float64-comparable ndarray.

    Raises an internal problem, which :func:`run_check` turns into a short message, for
    anything that is not numbers.
    """
    if value is None:
        raise _Problem("bad_return", f"{what} is None (a missing `return`?)")
    mod = type(value).__module__ or ""
    try:
        if mod.startswith("torch") and hasattr(value, "detach"):
            t = value.detach().cpu()
            if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
                t = t.float()
            arr = np.array(t.numpy(), copy=True)
        elif isinstance(value, str | bytes | dict | set) or inspect.isgenerator(value):
            raise TypeError(type(value).__name__)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.array(value, copy=True)
    except _Problem:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the learner returned
        raise _Problem(
            "bad_return", f"{what} is a {type(value).__name__}, not an array of numbers"
        ) from e
    if arr.dtype.kind not in "fiu":
        raise _Problem(
            "bad_return",
            f"{what} is a {type(value).__name__} of {arr.dtype} values, not an array of numbers",
        )
    return arr


def _maxdiff(got: np.ndarray, want: np.ndarray) -> float:
    if got.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return float("nan") if np.isnan(diff).any() else float(diff.max())


def _maxdiff_alike(got: np.ndarray, want: np.ndarray) -> float:
    """:func:`_maxdiff`, counting NaN against NaN and an infinity against the same one as
    equal: how a mistake that makes NaN (0 / 0, say) is matched to its mutant."""
    g, w = got.astype(np.float64), want.astype(np.float64)
    alike = (np.isnan(g) & np.isnan(w)) | (np.isinf(g) & (g == w))
    return _maxdiff(np.where(alike, 0.0, g), np.where(alike, 0.0, w))


def tolerance(want: np.ndarray, rtol: float, atol: float = 0.0) -> float:
    """``rtol * max(1, max|want|) + atol``: relative for large values, absolute near 0.

    NaN and infinities in ``want`` (a mutant's 0 / 0) do not count towards the scale."""
    finite = np.abs(want[np.isfinite(want)]) if want.size else want
    scale = float(np.max(finite)) if finite.size else 0.0
    return rtol * max(1.0, scale) + atol


def _line(
    name: str, got: np.ndarray, want: np.ndarray, tol: float, width: int = 7
) -> tuple[str, bool]:
    maxdiff = _maxdiff(got, want)
    exact = bool(np.array_equal(got, want))
    ok = maxdiff <= tol  # False for NaN
    line = (
        f"  {name:<{width}} {str(got.shape):<14} exact: {exact!s:<5} | approximate: {ok!s:<5} | "
        f"maxdiff: {maxdiff:.1e} | tolerance: {tol:.1e}"
    )
    return line, ok


def cmp(name: str, got, want, tol: float | None = None) -> bool:
    """Print how close ``got`` is to ``want``: exact / approximate / maxdiff / tolerance.

    A public helper: learners may use it while debugging (against a numerical gradient,
    say); using it is never held against anyone. Book: chapter 3, section ``bn-gradcheck``.

    Parameters
    ----------
    name : str
        What is compared (printed first).
    got, want : array_like or tensor, same shape
        The value to check and the value it should have.
    tol : float, optional
        Largest allowed ``max|got - want|``; by default ``1e-7 * max(1, max|want|)``
        (``1e-4`` relative for float32).

    Returns
    -------
    bool
        Whether ``got`` is within ``tol`` of ``want`` (False on a shape mismatch).
    """
    try:
        g, w = numeric(got, name), numeric(want, name)
    except _Problem as e:
        print(f"{name:<8} cannot compare: {e.detail}")
        return False
    if g.shape != w.shape:
        print(f"{name:<8} shape {g.shape} but expected {w.shape}")
        return False
    if tol is None:
        tol = tolerance(w, RTOL.get(_dtype_name(got) or "float64", 1e-7))
    line, ok = _line(name, g, w, tol)
    print(line)
    return ok


# ----------------------------------------------------------------------------------------
# what a check declares
# ----------------------------------------------------------------------------------------
@dataclass
class Case:
    """One set of inputs.

    ``inputs`` is free: whatever the assignment's ``learner`` and ``reference`` functions
    read (arrays, seeds, a torch module factory, ...). ``dtype`` is the dtype every output
    must have (None: not checked); ``rtol`` overrides the dtype's default tolerance;
    ``scored`` cases share the points (others are only shown); ``tags`` name properties
    (for example ``"large_mean"``) that :func:`run_check` mentions when an output is wrong
    on exactly the tagged cases.
    """

    label: str
    inputs: dict[str, Any]
    dtype: str | None = "float64"
    rtol: float | None = None
    atol: float = 0.0
    scored: bool = True
    hidden: bool = False
    tags: frozenset[str] = frozenset()

    def tol(self, want: np.ndarray, output: Output) -> float:
        rtol = self.rtol if self.rtol is not None else output.rtol
        if rtol is None:
            rtol = RTOL.get(self.dtype or "float64", 1e-7)
        return tolerance(want, rtol, max(self.atol, output.atol))


@dataclass(frozen=True)
class Output:
    """One output a check compares: its name, and tolerances beyond the case's."""

    name: str
    rtol: float | None = None
    atol: float = 0.0
    check_dtype: bool = True


def hidden_specs(assignment: str, kind: str) -> list[dict]:
    """The list ``kind`` of ``bncourse/checks/hidden/<assignment>.py`` (case parameters)."""
    import importlib

    return list(getattr(importlib.import_module(f"bncourse.checks.hidden.{assignment}"), kind))


def with_hidden(
    visible: list[Case], assignment: str, kind: str, make: Callable, hidden: bool | None = None
) -> list[Case]:
    """The visible cases, plus, when ``hidden`` (default: :func:`grading`), the hidden ones.

    With hidden cases the visible ones are still shown but no longer scored: the points
    come from ``make(**spec, hidden=True)`` for each spec of :func:`hidden_specs`.
    """
    if hidden is None:
        hidden = grading()
    if not hidden:
        return visible
    for case in visible:
        case.scored = False
    return visible + [make(**spec, hidden=True) for spec in hidden_specs(assignment, kind)]


# ----------------------------------------------------------------------------------------
# calling the learner's code
# ----------------------------------------------------------------------------------------
class _TimeUp(BaseException):  # noqa: N818 - a BaseException, so `except Exception` misses it
    pass


_timed_out: set[int] = set()  # code objects that ran out of time: never called again


@contextlib.contextmanager
def _time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def handler(signum, frame):
        raise _TimeUp()

    old = signal.signal(signal.SIGPROF, handler)
    # fires again every second in case the learner's code swallows the first one
    signal.setitimer(signal.ITIMER_PROF, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _copy(value):
    """A copy of an input that the learner's code may change freely."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if (type(value).__module__ or "").startswith("torch") and hasattr(value, "clone"):
        return value.detach().clone().requires_grad_(bool(value.requires_grad))
    if isinstance(value, tuple | list):
        return type(value)(_copy(v) for v in value)
    return value


def _same(a, b) -> bool:
    """Whether input ``a`` still equals its snapshot ``b``."""
    try:
        if isinstance(b, np.ndarray):
            return (
                isinstance(a, np.ndarray)
                and a.shape == b.shape
                and bool(np.array_equal(a, b, equal_nan=True))
            )
        if (type(b).__module__ or "").startswith("torch") and hasattr(b, "clone"):
            import torch

            return a.shape == b.shape and bool(torch.equal(a.nan_to_num(), b.nan_to_num()))
        if isinstance(b, tuple | list):
            return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    except Exception:  # noqa: BLE001 - a learner object we cannot compare: call it unchanged
        return True
    return True


def _learner_frame(filename: str) -> bool:
    return not (
        filename.startswith(_HERE)
        or filename.startswith(_COURSE)
        or "site-packages" in filename
        or f"{os.sep}lib{os.sep}python3" in filename
        or filename.startswith("<frozen")
    )


def _describe_exception(e: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    if len(text) > 400:
        text = text[:400] + " ..."
    frames = [f for f in traceback.extract_tb(e.__traceback__) if _learner_frame(f.filename)]
    if frames and frames[-1].line:
        text += f"\n     in your line: {frames[-1].line.strip()}"
    return text


def _param_name(fn, index: int) -> str:
    try:
        names = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return f"`{names[index]}`"
    except Exception:  # noqa: BLE001
        return f"argument {index + 1}"


def _fn_name(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class Call:
    """The only way a check calls the learner's code. ``call(fn, *args)``.

    Every call runs on copies of the array and tensor arguments, under a time limit, with
    warnings silenced and floating-point errors ignored, watching for calls of the
    forbidden reference. Arguments changed in place are noted (and cost points only when
    ``charge=True``). Any problem raises an internal exception that :func:`run_check`
    turns into a short message.
    """

    def __init__(self, forbidden: Sequence[str] = ()):
        self.forbidden = tuple(forbidden)
        self.mutated: list[str] = []  # "fn changed its argument `x`"
        self.notes: list[str] = []  # message keys to print as notes (see note())
        self._verdict: dict[int, bool] = {}
        self._builtins = self._forbidden_builtins()

    def note(self, key: str) -> None:
        """Print the message ``key`` once, as a note (it does not change the score)."""
        if key not in self.notes:
            self.notes.append(key)

    def _forbidden_builtins(self) -> set[int]:
        """Ids of forbidden C functions in modules that are already imported."""
        out = set()
        for entry in self.forbidden:
            mod, _, attr = entry.rpartition(".")
            obj = getattr(sys.modules.get(mod), attr, None) if mod else None
            if obj is not None and not hasattr(obj, "__code__"):
                out.add(id(obj))
        return out

    def _is_forbidden(self, code, module: str | None) -> bool:
        key = id(code)
        hit = self._verdict.get(key)
        if hit is None:
            name = f"{module}.{getattr(code, 'co_qualname', code.co_name)}"
            hit = any(name == f or name.startswith(f + ".") for f in self.forbidden)
            self._verdict[key] = hit
        return hit

    def __call__(self, fn: Callable, *args, charge: bool = True, watch=None, **kwargs):
        """``fn(*args, **kwargs)`` on copies; ``watch``: positions whose change is noted."""
        name = _fn_name(fn)
        if not callable(fn):
            raise _Stop("bad_return", f"`{name}` is a {type(fn).__name__}, not a function")
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        if code is not None and id(code) in _timed_out:
            raise _Stop("timeout", f"{name} ran out of time earlier; not called again")
        positions = range(len(args)) if watch is None else watch
        # the watched inputs are the check's: the learner's code gets copies of them; the
        # others (the learner's own cache, say) pass through untouched
        given = [_copy(a) if i in positions else a for i, a in enumerate(args)]
        snap = [_copy(a) if i in positions else None for i, a in enumerate(args)]
        hits: list[str] = []

        def profile(frame, event, arg):
            if hits:
                return
            if event == "call":
                if self._is_forbidden(frame.f_code, frame.f_globals.get("__name__")):
                    caller = frame.f_back
                    where = ""
                    if caller is not None:
                        src = linecache.getline(caller.f_code.co_filename, caller.f_lineno)
                        where = src.strip()
                    hits.append(
                        f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}"
                        + (f", in your line: {where}" if where else "")
                    )
            elif event == "c_call" and id(arg) in self._builtins:
                hits.append(f"{getattr(arg, '__module__', '') or ''}.{arg.__name__}")

        old = sys.getprofile()
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"), _time_limit(CALL_SECONDS):
                warnings.simplefilter("ignore")
                if self.forbidden and charge:  # helpers (charge=False) are not the subject
                    sys.setprofile(profile)
                try:
                    result = fn(*given, **kwargs)
                finally:
                    sys.setprofile(old)
        except _TimeUp as e:
            if code is not None:
                _timed_out.add(id(code))
            raise _Stop(
                "timeout", f"{name} was stopped after {CALL_SECONDS:g} s of CPU time"
            ) from e
        except KeyboardInterrupt:
            # the kernel's own interrupt (the grader's cell time limit): a function that
            # sleeps or waits past it is not called again, or every later test waits too
            if code is not None and grading():
                _timed_out.add(id(code))
            raise
        except NotImplementedError as e:
            if hits:
                raise _Stop("calls_reference", f"{name} called {hits[0]}") from e
            raise _Stop("not_implemented", f"{name} raises NotImplementedError") from e
        except BaseException as e:  # noqa: BLE001 - the learner's bug, reported, never raised
            if hits:
                raise _Stop("calls_reference", f"{name} called {hits[0]}") from e
            raise _Problem("raises", f"{name}: " + _describe_exception(e)) from e
        if hits:
            raise _Stop("calls_reference", f"{name} called {hits[0]}")
        if charge:
            for i in positions:
                if not _same(given[i], snap[i]):
                    what = f"{name} changed its argument {_param_name(fn, i)}"
                    if what not in self.mutated:
                        self.mutated.append(what)
        return result

    @staticmethod
    def unpack(result, names: Sequence[str], fn) -> tuple:
        """``result`` as a tuple of ``len(names)`` values, or a problem naming what came."""
        want = f"({', '.join(names)})"
        if isinstance(result, tuple | list) and len(result) == len(names):
            return tuple(result)
        name = _fn_name(fn)
        if isinstance(result, tuple | list):
            got = f"{len(result)} values"
        elif result is None:
            got = "None (a missing `return`?)"
        else:
            got = f"a {type(result).__name__}"
        raise _Problem("bad_return", f"{name} must return {len(names)} values {want}; got {got}")


# ----------------------------------------------------------------------------------------
# the engine
# ----------------------------------------------------------------------------------------
@dataclass
class _Printer:
    messages: dict[str, str]
    lines: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def message(self, key: str, detail: str = "", indent: str = "  -> ") -> None:
        """A message in full the first time, by name after that; then its detail."""
        if key in self.keys:
            self(f"{indent}{key.replace('_', ' ')} (see above)")
        else:
            self(f"{indent}{self.messages.get(key, key)}")
        self.keys.append(key)
        if detail:
            for line in detail.splitlines():
                self(f"     {line}")


@dataclass
class _Result:
    """One output of one case: the learner's value (None: not comparable), the reference."""

    got: np.ndarray | None
    want: np.ndarray
    tol: float
    ok: bool
    why: str = ""  # a learner-readable reason when not ok


def _index_text(got: np.ndarray, want: np.ndarray) -> str:
    with np.errstate(all="ignore"):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    if diff.size == 0:
        return ""
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    where = f" at index {tuple(int(i) for i in idx)}" if diff.ndim else ""
    return f"{where}: yours {float(got[idx]):.6g}, expected {float(want[idx]):.6g}"


def _diagnose(k, output, cases, results, mutant_outs) -> list[tuple[str, float]]:
    """The mistakes whose output ``k`` matches the learner's on every case, best first."""
    found = []
    for key, outs in mutant_outs.items():
        worst = 0.0
        for c, case in enumerate(cases):
            res = results[c][k] if results[c] is not None else None
            m = outs[c]
            if res is None or res.got is None or m is None or m[k] is None:
                worst = None
                break
            mk = m[k]
            if mk.shape != res.got.shape:
                worst = None
                break
            d = _maxdiff_alike(res.got, mk)
            if mk.size and not d <= case.tol(mk, output):
                worst = None
                break
            worst = max(worst, d)
        if worst is not None:
            found.append((key, worst))
    return sorted(found, key=lambda kw: kw[1])


def run_check(
    title: str,
    points: float,
    cases: Sequence[Case],
    outputs: Sequence[Output],
    learner: Callable[[Call, Case], Sequence],
    reference: Callable[[Case], Sequence],
    *,
    mutants: dict[str, Callable[[Case], Sequence]] | None = None,
    messages: dict[str, str] | None = None,
    forbidden: Sequence[str] = (),
    hints: dict[str, str] | None = None,
    shape_hint: Callable[[str, tuple, tuple, Case], str] | None = None,
) -> Score:
    """Run one check; print what it compared and what is wrong; return the :class:`Score`.

    Parameters
    ----------
    title : str
        First line printed.
    points : float
        The most this check gives.
    cases : sequence of Case
        Inputs; the ``scored`` ones share the points.
    outputs : sequence of Output
        What ``learner`` and ``reference`` return, in order.
    learner : callable
        ``learner(call, case) -> outputs``: calls the learner's code through ``call``
        (a :class:`Call`) and returns its outputs (arrays, tensors, numbers).
    reference : callable
        ``reference(case) -> outputs``, computed in float64.
    mutants : dict, optional
        ``{mistake key: mutant(case) -> outputs}``: what each named mistake computes. A
        mistake is named for an output only when its mutant matches the learner's output
        on every case (an output a mutant does not model may be None).
    messages : dict, optional
        The assignment's messages (mistake key -> text), on top of :data:`MESSAGES`.
    forbidden : sequence of str
        Dotted names (or prefixes) of the functions that count as using the reference,
        as defined (``module.qualname``): calling one scores 0.
    hints : dict, optional
        ``{tag: text}``: printed when an output is wrong on exactly the cases with that tag.
    shape_hint : callable, optional
        ``shape_hint(name, got_shape, want_shape, case) -> str``: words to add to a
        wrong-shape message (may be empty).
    """
    pr = _Printer({**MESSAGES, **(messages or {})})
    call = Call(forbidden)
    mutants = mutants or {}
    pr(title)
    width = max([7, *(len(o.name) for o in outputs)])  # the output columns line up
    n_scored = sum(c.scored for c in cases)
    right = 0  # scored cases with every output right
    broken = 0  # scored cases the check itself could not compute
    results: list[list[_Result] | None] = []
    failures: dict[str, str] = {}  # problem key -> first detail, per case
    stopped = None
    for case in cases:
        if stopped is not None:
            results.append(None)
            continue
        tag = "" if case.scored else " (shown, not scored)"
        pr(f"case{' (hidden)' if case.hidden else ''}: {case.label}{tag}")
        try:
            want = [numeric(w, o.name) for w, o in zip(reference(case), outputs, strict=True)]
        except Exception as e:  # noqa: BLE001 - the course's bug: never the learner's loss
            pr.message("checker_error", f"{type(e).__name__}: {e}")
            broken += case.scored
            results.append(None)
            continue
        try:
            got = list(learner(call, case))
            if len(got) != len(outputs):
                raise RuntimeError(f"learner gave {len(got)} outputs for {len(outputs)}")
            row = []
            for o, g, w in zip(outputs, got, want, strict=True):
                row.append(_compare(pr, o, g, w, case, shape_hint, width))
        except _Stop as e:
            pr.message(e.key, e.detail)
            stopped = e.key
            results.append(None)
            continue
        except _Problem as e:
            if e.key in failures and failures[e.key] == e.detail:
                pr(f"  -> {e.key.replace('_', ' ')} again: {e.detail.splitlines()[0]}")
            else:
                pr.message(e.key, e.detail)
                failures[e.key] = e.detail
            results.append(None)
            continue
        except Exception as e:  # noqa: BLE001 - never the checker's traceback
            pr.message("bad_return", f"the check could not use what your code returned ({e})")
            results.append(None)
            continue
        results.append(row)
        if case.scored and all(r.ok for r in row):
            right += 1
    usable = n_scored - broken
    # every scored case broken by the check itself: not the learner's fault
    earned = right / usable if usable > 0 else float(n_scored > 0)
    if stopped in ("not_implemented", "calls_reference"):
        earned = 0.0
    _explain(pr, cases, outputs, results, mutants, hints or {})
    for key in call.notes:
        pr.message(key, indent="  note: ")
    score = points * earned
    if call.mutated and score > 0:
        deduction = points * MUTATION_SHARE
        pr.message(
            "modifies_input",
            "; ".join(call.mutated) + f". {deduction:g} of {points:g} points deducted.",
        )
        score = max(0.0, score - deduction)
    result = Score(score, points, pr.keys)
    verdict = "all outputs match" if float(result) == points else "see the messages above"
    pr(f"score: {float(result):g} / {points:g} points ({verdict})")
    result.report = "\n".join(pr.lines)
    if grading():
        # one machine-readable line for the class report (the feedback page strips it)
        record = {
            "check": title.split(":")[0].split(" ")[0],
            "score": float(result),
            "points": float(points),
            "mistakes": list(result.mistakes),
        }
        print("bncourse-check: " + json.dumps(record), flush=True)
    if float(result) < points and os.environ.get("NBGRADER_EXECUTION") == "validate":
        # nbgrader's Validate button shows a failing test cell's stderr; without this the
        # learner reads only "Partial credit; passed some but not all of the tests".
        # Never while autograding: any stderr output there zeroes the cell.
        print(result.report, file=sys.stderr, flush=True)
    return result


def _compare(pr, output: Output, got, want, case: Case, shape_hint, width=7) -> _Result:
    name = output.name
    tol = case.tol(want, output)
    try:
        g = numeric(got, name)
    except _Problem as e:
        pr(f"  {name:<{width}} not comparable")
        pr.message(e.key, e.detail)
        return _Result(None, want, tol, False, e.detail)
    if g.shape != want.shape:
        extra = shape_hint(name, g.shape, want.shape, case) if shape_hint else ""
        if not extra and g.shape == want.shape[::-1] and g.ndim == 2:
            extra = "It is transposed."
        why = f"shape {g.shape}, expected {want.shape}" + (f". {extra}" if extra else "")
        pr(f"  {name:<{width}} {why}")
        return _Result(g, want, tol, False, why)
    line, ok = _line(name, g, want, tol, width)
    pr(line)
    if ok and output.check_dtype and case.dtype and _dtype_name(got) not in (None, case.dtype):
        pr.message("wrong_dtype", f"{name} is {_dtype_name(got)} for {case.dtype} input.")
        return _Result(g, want, tol, False, f"dtype {_dtype_name(got)}, expected {case.dtype}")
    why = ""
    if not ok:
        finite = np.isfinite(want)
        if (~np.isfinite(g) & finite).any():
            why = "holds NaN or infinity"
        else:
            why = f"maxdiff {_maxdiff(g, want):.1e} (tolerance {tol:.1e})" + _index_text(g, want)
    return _Result(g, want, tol, ok, why)


def _explain(pr, cases, outputs, results, mutants, hints) -> None:
    """After all cases: name the mistake behind each wrong output, or say what is wrong."""
    wrong = [
        k
        for k in range(len(outputs))
        if any(r is not None and not r[k].ok and r[k].got is not None for r in results)
    ]
    if not wrong:
        return
    mutant_outs: dict[str, list] = {}
    for key, m in mutants.items():
        outs = []
        for case in cases:
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = m(case)
                outs.append([None if v is None else numeric(v) for v in raw])
            except Exception:  # noqa: BLE001 - that mistake cannot even run on this case
                outs.append(None)
        mutant_outs[key] = outs
    named = set()
    for k in wrong:
        name = outputs[k].name
        found = _diagnose(k, outputs[k], cases, results, mutant_outs)
        bad = [
            (c, results[c][k])
            for c in range(len(cases))
            if results[c] is not None and not results[c][k].ok
        ]
        if found:
            # the cases cannot tell these apart: name each, and say so
            also = [key for key, _ in found]
            for key, diff in found:
                if key in named:
                    continue
                named.add(key)
                others = ", ".join(o.replace("_", " ") for o in also if o != key)
                pr.message(
                    key,
                    f"({name} matches this mistake on all {len(cases)} cases, to {diff:.1e}"
                    + (f"; it matches these as well: {others}" if others else "")
                    + ".)",
                )
            continue
        if all(r.why.startswith("dtype") for _, r in bad):
            continue  # already said, with the output's name
        shaped = [(c, r) for c, r in bad if r.got is not None and r.got.shape == r.want.shape]
        c0, r0 = max(shaped, key=lambda cr: _maxdiff(cr[1].got, cr[1].want)) if shaped else bad[0]
        compared = sum(r is not None for r in results)
        detail = (
            f"{name} is wrong on {len(bad)} of {compared} cases; on case "
            f"'{cases[c0].label}': {r0.why}."
        )
        if not shaped:
            pr.message("wrong_shape", detail)
            continue
        tagged = {
            t
            for t in set().union(*(c.tags for c in cases))
            if {c for c, _ in bad} == {i for i, c in enumerate(cases) if t in c.tags}
        }
        for t in sorted(tagged):
            if t in hints:
                detail += "\n" + hints[t]
        nan = all(r.why == "holds NaN or infinity" for _, r in shaped)
        pr.message("not_finite" if nan else "unknown", detail)
