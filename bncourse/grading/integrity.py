"""Refuse credit that was not earned by the learner's own code.

Two layers, both reported to the learner in plain words:

1. A static scan of every cell the learner could write (answer cells and added cells):
   importing or naming ``bnref`` (the course's reference implementation) zeroes that answer's
   part; changing what the tests rely on (assigning to attributes of numpy, ``bnref.checks``,
   ``sys``, builtins, redefining a name a test imports, ``exec``/``eval``/``__import__``,
   ``sys.modules``, frame and ``__code__`` tricks, IPython hooks) zeroes every test after it.
2. A guard in the kernel. Before any learner code runs, the grader imports the modules the
   tests use and records a fingerprint of every public function in them (module, name, code,
   identity), plus the IPython hooks that could rewrite a test cell. Before every test cell it
   fingerprints them again: a replaced function or a new hook zeroes that test.

Neither layer is a sandbox: code written to defeat this particular guard can do so (it runs in
the same process as the tests). It catches the honest mistake and the casual cheat; the
instructor reads ``autograded/`` for the rest.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

# Modules whose public functions the kernel guard fingerprints, besides those the tests import.
WATCH_DEFAULT = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "numpy.random")
REFERENCE_ROOT = "bnref"
# Attribute roots that tests may rely on even if no locked cell imports them under that name.
ALWAYS_PROTECTED = {"sys", "builtins", "__builtins__", "np", "numpy", "math", "bnref", "warnings"}
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "breakpoint", "reload"}
SENSITIVE_DUNDERS = {"__code__", "__globals__", "__builtins__", "__dict__", "__closure__"}
FRAME_ATTRS = {"f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "tb_frame", "cr_frame"}
SYS_SENSITIVE = {
    "modules",
    "meta_path",
    "path_hooks",
    "settrace",
    "setprofile",
    "excepthook",
    "displayhook",
    "_getframe",
    "stdout",
    "stderr",
    "addaudithook",
}
IPYTHON_OK = {"run_line_magic", "run_cell_magic", "system", "getoutput", "magic"}
BANNED_IMPORTS = {"builtins", "importlib", "unittest.mock", "mock", "gc", "inspect"}


@dataclass(frozen=True)
class Finding:
    kind: str  # "reference" or "tamper"
    line: int
    what: str  # learner-readable


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[...]"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "..."


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def _is_call_to(node: ast.AST, names: set[str]) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


class _Scan(ast.NodeVisitor):
    def __init__(self, protected: dict[str, str]):
        self.protected = protected
        self.roots = set(protected) | ALWAYS_PROTECTED
        self.found: list[Finding] = []
        self.depth = 0
        self.globals: set[str] = set()

    def add(self, kind: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(kind, getattr(node, "lineno", 0), what))

    # --- imports -------------------------------------------------------------------------
    def _bind(self, node: ast.AST, name: str, path: str) -> None:
        if (self.depth == 0 or name in self.globals) and self.protected.get(name, path) != path:
            self.add("tamper", node, f"rebinds `{name}`, which the tests use, to `{path}`")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            mod = alias.name
            if mod.split(".")[0] == REFERENCE_ROOT:
                self.add("reference", node, f"imports `{mod}`")
            elif mod in BANNED_IMPORTS:
                self.add("tamper", node, f"imports `{mod}`, which can rewrite what tests check")
            bound = alias.asname or mod.split(".")[0]
            self._bind(node, bound, mod if alias.asname else mod.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if mod.split(".")[0] == REFERENCE_ROOT:
            self.add("reference", node, f"imports from `{mod}`")
        elif mod in BANNED_IMPORTS or mod.split(".")[0] == "importlib":
            self.add("tamper", node, f"imports from `{mod}`, which can rewrite what tests check")
        for alias in node.names:
            self._bind(node, alias.asname or alias.name, f"{mod}.{alias.name}")

    # --- names and constants -------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id == REFERENCE_ROOT:
            self.add("reference", node, "uses `bnref`")
        elif node.id == "__builtins__":
            self.add("tamper", node, "uses `__builtins__`")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and REFERENCE_ROOT in node.value:
            self.add("reference", node, "names `bnref` in a string")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root = _root(node)
        if isinstance(root, ast.Name) and root.id == "sys" and node.attr in SYS_SENSITIVE:
            if isinstance(node.value, ast.Name):
                self.add("tamper", node, f"uses `sys.{node.attr}`")
        elif node.attr in SENSITIVE_DUNDERS or node.attr in FRAME_ATTRS:
            self.add("tamper", node, f"uses `{_dotted(node)}`")
        elif _is_call_to(node.value, {"get_ipython"}) and node.attr not in IPYTHON_OK:
            self.add("tamper", node, f"uses `get_ipython().{node.attr}`")
        elif _is_call_to(node.value, {"globals", "locals", "vars"}) and node.attr in {
            "update",
            "setdefault",
            "pop",
            "__setitem__",
        }:
            self.add("tamper", node, f"changes `{_dotted(node)}`")
        self.generic_visit(node)

    # --- assignments ---------------------------------------------------------------------
    def _target(self, t: ast.AST) -> None:
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._target(e)
        elif isinstance(t, ast.Starred):
            self._target(t.value)
        elif isinstance(t, ast.Name):
            if (self.depth == 0 or t.id in self.globals) and t.id in self.protected:
                self.add("tamper", t, f"redefines `{t.id}`, which the tests use")
        elif isinstance(t, ast.Attribute | ast.Subscript):
            root = _root(t)
            if (isinstance(root, ast.Name) and root.id in self.roots) or _is_call_to(
                root, {"globals", "locals", "vars", "get_ipython"}
            ):
                self.add("tamper", t, f"changes `{_dotted(t)}`, which the tests rely on")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._target(node.optional_vars)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.update(node.names)

    def _scope(self, node) -> None:
        if self.depth == 0 and node.name in self.protected:
            self.add("tamper", node, f"redefines `{node.name}`, which the tests use")
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        self.depth += 1
        for child in node.body:
            self.visit(child)
        if hasattr(node, "args"):
            self.visit(node.args)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    # --- calls ---------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in DYNAMIC_CALLS:
            self.add("tamper", node, f"calls `{name}`, which runs code the grader cannot check")
        elif name in {"setattr", "delattr", "vars"} and node.args:
            root = _root(node.args[0])
            if (isinstance(root, ast.Name) and root.id in self.roots) or isinstance(root, ast.Call):
                self.add("tamper", node, f"calls `{name}` on `{_dotted(node.args[0])}`")
        self.generic_visit(node)


def _to_python(source: str) -> str:
    """IPython syntax (magics, ``!cmd``) to plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - fall back to the raw source
        return source


def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(_to_python(source))
    except (SyntaxError, ValueError):
        return None


def protected_names(sources: list[str]) -> dict[str, str]:
    """Names that locked cells bind by import, def or class: ``{name: what it is}``."""
    names: dict[str, str] = {}
    for src in sources:
        tree = _parse(src)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                names[node.name] = f"<locked {node.name}>"
    return names


def imported_modules(sources: list[str]) -> list[str]:
    """Absolute module names imported by these sources (the tests), in order."""
    mods: list[str] = []
    for src in sources:
        tree = _parse(src)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                mods += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods.append(node.module)
                mods += [f"{node.module}.{a.name}" for a in node.names]  # may be submodules
    return list(dict.fromkeys(mods))


def scan_source(source: str, protected: dict[str, str]) -> list[Finding]:
    """Findings for one learner cell (empty when the cell does not parse: it fails by itself)."""
    tree = _parse(source)
    if tree is None:
        return []
    scan = _Scan(protected)
    scan.visit(tree)
    unique = {(f.kind, f.line, f.what): f for f in scan.found}
    return sorted(unique.values(), key=lambda f: (f.line, f.kind))


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def refusals(nb) -> dict[int, list[str]]:
    """Reasons to zero test cells, by cell index, from a static scan of the learner's cells.

    ``nb`` is the sanitized notebook (locked cells already restored). A ``reference`` finding
    in an answer cell zeroes the tests between that answer and the next answer cell (its
    part); in a cell the learner added, or a ``tamper`` finding anywhere, it zeroes every test
    after the cell.
    """
    cells = nb.cells
    locked = [c.source for c in cells if c.cell_type == "code" and _nbg(c).get("locked")]
    protected = protected_names(locked)
    tests = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "code" and _nbg(c).get("grade") and not _nbg(c).get("solution")
    ]
    answers = [i for i, c in enumerate(cells) if _nbg(c).get("solution")]
    out: dict[int, list[str]] = {}
    for i, cell in enumerate(cells):
        meta = _nbg(cell)
        if cell.cell_type != "code" or meta.get("locked"):
            continue
        findings = scan_source(cell.source, protected)
        if not findings:
            continue
        label = f"answer cell '{meta['grade_id']}'" if meta.get("solution") else f"cell {i + 1}"
        later = [t for t in tests if t > i]
        nxt = min([a for a in answers if a > i], default=len(cells))
        part = [t for t in later if t < nxt] or later
        for f in findings:
            if f.kind == "reference":
                targets = part if meta.get("solution") else later
                why = (
                    f"your {label} {f.what} (line {f.line}), the course's reference "
                    "implementation. Credit comes from your own implementation, so this test "
                    "scores 0."
                )
            else:
                targets = later
                why = (
                    f"your {label} {f.what} (line {f.line}). Tests after it cannot be trusted, "
                    "so they score 0."
                )
            for t in targets:
                if why not in out.setdefault(t, []):
                    out[t].append(why)
    return out


# --- the kernel guard --------------------------------------------------------------------

GUARD_MODULE = "_bn_grader_guard"

# Runs silently in the kernel before any learner code. Everything it needs lives in a module
# object that learner code would have to go looking for.
GUARD_SETUP = r"""
def _bn_grader_guard_setup(watch):
    import hashlib, importlib, json, sys, types
    for name in watch:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    # and every loaded submodule of the test's own packages (bnref.numpy behind bnref.checks)
    roots = {n.split(".")[0] for n in watch} - {"builtins", "math", "numpy"}
    watch = [n for n in watch if n in sys.modules] + sorted(
        n for n in list(sys.modules) if n.split(".")[0] in roots and n not in watch
    )
    g = types.ModuleType("@MODULE@")

    def sig(obj):
        code = getattr(obj, "__code__", None)
        parts = [type(obj).__name__, str(getattr(obj, "__module__", "") or ""),
                 str(getattr(obj, "__qualname__", "") or "")]
        if isinstance(obj, types.ModuleType):
            parts.append(obj.__name__)
        elif code is not None:
            parts += [code.co_filename, str(code.co_firstlineno),
                      hashlib.md5(code.co_code).hexdigest()]
        elif not isinstance(obj, type):
            parts.append(str(id(obj)))
        return hashlib.md5("|".join(parts).encode()).hexdigest()[:10]

    def detail(name):
        m = sys.modules.get(name)
        if m is None:
            return {}
        # ipykernel swaps builtins.input in and out around every execution.
        return {k: sig(v) for k, v in list(vars(m).items())
                if not k.startswith("_") and k not in ("input", "raw_input", "getpass")
                and (callable(v) or isinstance(v, types.ModuleType))}

    def hooks():
        out = {}
        ip = get_ipython()
        out["IPython ast_transformers"] = len(ip.ast_transformers)
        out["IPython input_transformers_post"] = len(ip.input_transformers_post)
        out["IPython input_transformers_cleanup"] = len(ip.input_transformers_cleanup)
        for ev in ("pre_run_cell", "pre_execute"):
            out["IPython event " + ev] = len(ip.events.callbacks.get(ev, []))
        out["sys.settrace"] = sys.gettrace() is not None
        out["sys.setprofile"] = sys.getprofile() is not None
        out["sys.stdout"] = type(sys.stdout).__name__ + str(getattr(sys.stdout, "name", ""))
        out["sys.stderr"] = type(sys.stderr).__name__ + str(getattr(sys.stderr, "name", ""))
        out["sys.excepthook"] = sig(sys.excepthook)
        out["sys.meta_path"] = [getattr(f, "__qualname__", type(f).__qualname__)
                                for f in sys.meta_path]
        out["sys.modules"] = sorted(n for n in watch if n in sys.modules
                                    and sys.modules[n].__name__ != n)
        return out

    def fp():
        mods = {n: hashlib.md5(json.dumps(detail(n), sort_keys=True).encode()).hexdigest()
                for n in watch}
        return json.dumps({"modules": mods, "hooks": hooks()})

    g.fp, g.detail, g.watch = fp, (lambda name: json.dumps(detail(name))), list(watch)
    sys.modules["@MODULE@"] = g
    return fp()
""".replace("@MODULE@", GUARD_MODULE)

GUARD_FP = f"__import__('{GUARD_MODULE}').fp()"


def guard_detail_expr(module: str) -> str:
    return f"__import__('{GUARD_MODULE}').detail({module!r})"


def parse_expr_result(content: dict, key: str):
    """The JSON value of a user expression, or None if it failed."""
    res = (content or {}).get("user_expressions", {}).get(key)
    if not res or res.get("status") != "ok":
        return None
    text = res.get("data", {}).get("text/plain", "")
    try:
        return json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return None


def diff_fingerprints(before: dict, after: dict) -> list[str]:
    """Names of what changed between two ``fp()`` results (module digests and hooks)."""
    changed = [m for m, d in before["modules"].items() if after["modules"].get(m) != d]
    for key, val in before["hooks"].items():
        now = after["hooks"].get(key)
        if key == "sys.meta_path":
            if [x for x in now or [] if x not in val]:
                changed.append(key)
        elif now != val:
            changed.append(key)
    return changed


def changed_attributes(module: str, before: dict, after: dict) -> list[str]:
    """Public names of ``module`` that were replaced or deleted (new names are fine)."""
    return sorted(f"{module}.{k}" for k, v in before.items() if after.get(k) != v)
