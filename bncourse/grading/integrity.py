"""Refuse credit that was not earned by the learner's own code.

Two layers, both reported to the learner in plain words:

1. A static scan of every cell the learner could write (answer cells and added cells).
   *Using the reference* is a per-assignment, AST-level rule: the assignment's checks
   module (``bncourse/checks/bnNN_topic.py``, imported by the notebook's locked cells)
   declares ``FORBIDDEN``, the functions that implement what the learner must write. Code
   that calls one of them (or hands one to the tests under a name they call) zeroes that
   answer's part, and the feedback quotes the line. Imports, strings, comments, docstrings,
   copied test cells and the course's public helpers (``cmp``) are never evidence; neither
   is a top-level call in a scratch cell (comparing with the reference is allowed). The
   checks themselves watch the same list while they run the learner's code.
   Changing what the tests rely on (assigning to attributes of numpy, ``bncourse.checks``,
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
import importlib
import json
from dataclasses import dataclass

# Modules whose public functions the kernel guard fingerprints, besides those the tests import.
WATCH_DEFAULT = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "numpy.random")
REFERENCE_ROOT = "bnref"
CHECKS_PACKAGE = "bncourse.checks"
# Attribute roots that tests may rely on even if no locked cell imports them under that name.
ALWAYS_PROTECTED = {"sys", "builtins", "__builtins__", "np", "numpy", "math", "bnref", "warnings"}
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "breakpoint", "reload"}
# Modules through which those calls reach the builtins (attribute calls on anything else,
# such as `model.eval()`, are ordinary methods).
DYNAMIC_CALL_MODULES = {"builtins", "__builtins__", "importlib", "imp"}
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


def _matches(dotted: str | None, forbidden) -> str | None:
    if not dotted:
        return None
    for f in forbidden:
        if dotted == f or dotted.startswith(f + "."):
            return dotted
    return None


def _exports(module: str, name: str, forbidden) -> bool:
    """Whether ``from module import *`` binds ``name`` to something FORBIDDEN."""
    if not _matches(f"{module}.{name}", forbidden):
        return False
    try:
        mod = importlib.import_module(module)  # only modules FORBIDDEN itself names
    except Exception:  # noqa: BLE001
        return False
    public = getattr(mod, "__all__", None)
    if public is not None:
        return name in public
    return hasattr(mod, name) and not name.startswith("_")


def _local_names(node) -> set[str]:
    """Parameters of a function or lambda, and the names its own body assigns."""
    names: set[str] = set()
    args = getattr(node, "args", None)
    if isinstance(args, ast.arguments):
        every = args.posonlyargs + args.args + args.kwonlyargs
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        names |= {a.arg for a in every}
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
    return names


def _top_level_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at top level by def, class or assignment."""
    names: set[str] = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
    return names


class _Scan(ast.NodeVisitor):
    def __init__(
        self,
        protected: dict[str, str],
        forbidden=(),
        aliases: dict[str, str] | None = None,
        used: set[str] | None = None,
    ):
        self.protected = protected
        self.roots = set(protected) | ALWAYS_PROTECTED
        self.found: list[Finding] = []
        self.depth = 0
        self.globals: set[str] = set()
        self.forbidden = tuple(forbidden)
        self.aliases = aliases if aliases is not None else {}  # name -> dotted module path
        self.stars: list[str] = []  # modules star-imported
        self.used = used or set()  # names the test cells use
        self.defined: set[str] = set()  # names the cell binds itself (shadow star imports)
        self.local_names: list[set[str]] = []  # per enclosing function: params and locals

    # --- the reference: resolve what a name means, per the imports seen ------------------
    def resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if any(node.id in names for names in self.local_names):
                return None  # a parameter or local variable of the enclosing function
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id not in self.defined:
                for mod in self.stars:
                    if _exports(mod, node.id, self.forbidden):
                        return f"{mod}.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _reference(self, node: ast.AST) -> bool:
        """A use of a forbidden function inside code the tests run (a def or lambda body)."""
        if not self.forbidden or self.depth == 0:
            return False
        hit = _matches(self.resolve(node), self.forbidden)
        if hit:
            self.add("reference", node, f"calls `{hit}`")
        return bool(hit)

    def add(self, kind: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(kind, getattr(node, "lineno", 0), what))

    # --- imports -------------------------------------------------------------------------
    def _bind(self, node: ast.AST, name: str, path: str) -> None:
        if (self.depth == 0 or name in self.globals) and self.protected.get(name, path) != path:
            self.add("tamper", node, f"rebinds `{name}`, which the tests use, to `{path}`")

    def _import_binds(self, node, bound: str, dotted: str) -> None:
        """``import``/``from`` binding a forbidden function to a name the tests call."""
        self.aliases[bound] = dotted
        if (
            self.depth == 0
            and bound in self.used
            and bound not in self.defined
            and _matches(dotted, self.forbidden)
        ):
            self.add("reference", node, f"hands `{dotted}` to the tests as `{bound}` (an import)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            mod = alias.name
            if mod in BANNED_IMPORTS:
                self.add("tamper", node, f"imports `{mod}`, which can rewrite what tests check")
            bound = alias.asname or mod.split(".")[0]
            self._bind(node, bound, mod if alias.asname else mod.split(".")[0])
            self.aliases[bound] = mod if alias.asname else mod.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if mod in BANNED_IMPORTS or mod.split(".")[0] == "importlib":
            self.add("tamper", node, f"imports from `{mod}`, which can rewrite what tests check")
        for alias in node.names:
            if alias.name == "*":
                self.stars.append(mod)
                if self.depth == 0:
                    for name in sorted(self.used - self.defined):
                        if _exports(mod, name, self.forbidden):
                            self.add(
                                "reference",
                                node,
                                f"hands `{mod}.{name}` to the tests as `{name}` (`import *`)",
                            )
                continue
            self._bind(node, alias.asname or alias.name, f"{mod}.{alias.name}")
            if not node.level:
                self._import_binds(node, alias.asname or alias.name, f"{mod}.{alias.name}")

    # --- names ---------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.add("tamper", node, "uses `__builtins__`")
        elif isinstance(node.ctx, ast.Load):
            self._reference(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and self._reference(node):
            return
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
            hit = self.depth == 0 and _matches(self.resolve(node.value), self.forbidden)
            if hit and isinstance(t, ast.Name) and t.id in self.used:
                self.add("reference", node, f"hands `{hit}` to the tests as `{t.id}`")
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
        self.local_names.append(_local_names(node))
        for child in node.body:
            self.visit(child)
        if hasattr(node, "args"):
            self.visit(node.args)
        self.local_names.pop()
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.local_names.append(_local_names(node))
        self.generic_visit(node)
        self.local_names.pop()
        self.depth -= 1

    # --- calls ---------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.id if isinstance(f, ast.Name) else ""
        if isinstance(f, ast.Attribute) and f.attr in DYNAMIC_CALLS:
            # `builtins.eval(...)`, `importlib.reload(...)`: yes; a method that happens to
            # share the name (`model.eval()`, `re.compile(...)`) is not a dynamic call.
            base = self.resolve(f.value) or _dotted(f.value)
            if base.split(".")[0] in DYNAMIC_CALL_MODULES:
                name = f.attr
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


def forbidden_for(sources: list[str]) -> tuple[str, ...]:
    """``FORBIDDEN`` of the assignment checks modules these (locked) sources import."""
    out: list[str] = []
    for mod in imported_modules(sources):
        if not mod.startswith(CHECKS_PACKAGE + ".") or ".hidden" in mod:
            continue
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue  # a name imported from the package, not a module
        except Exception:  # noqa: BLE001 - a broken checks module fails in the kernel, visibly
            continue
        out += [f for f in getattr(module, "FORBIDDEN", ()) if f not in out]
    return tuple(out)


def used_names(sources: list[str]) -> set[str]:
    """Names that these sources (the tests) read."""
    names: set[str] = set()
    for src in sources:
        tree = _parse(src)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.add(node.id)
    return names


def scan_source(
    source: str,
    protected: dict[str, str],
    forbidden=(),
    aliases: dict[str, str] | None = None,
    used: set[str] | None = None,
) -> list[Finding]:
    """Findings for one learner cell (empty when the cell does not parse: it fails by itself).

    ``forbidden``: the assignment's FORBIDDEN (dotted names or prefixes); ``aliases``: what
    earlier cells' imports bound (updated in place); ``used``: names the tests read.
    """
    tree = _parse(source)
    if tree is None:
        return []
    scan = _Scan(protected, forbidden, aliases, used)
    scan.defined = _top_level_names(tree)
    scan.visit(tree)
    unique = {(f.kind, f.line, f.what): f for f in scan.found}
    return sorted(unique.values(), key=lambda f: (f.line, f.kind))


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def refusals(nb) -> dict[int, list[str]]:
    """Reasons to zero test cells, by cell index, from a static scan of the learner's cells.

    ``nb`` is the sanitized notebook (locked cells already restored). A ``reference`` finding
    (a call of the assignment's FORBIDDEN, see the module docstring) in an answer cell zeroes
    the tests between that answer and the next answer cell (its part); in a cell the learner
    added, or a ``tamper`` finding anywhere, it zeroes every test after the cell. Every
    reason quotes the line.
    """
    cells = nb.cells
    locked = [c.source for c in cells if c.cell_type == "code" and _nbg(c).get("locked")]
    protected = protected_names(locked)
    forbidden = forbidden_for(locked)
    tests = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "code" and _nbg(c).get("grade") and not _nbg(c).get("solution")
    ]
    used = used_names([cells[t].source for t in tests])
    for c in cells:  # a name some learner cell defines is the learner's, whatever imports say
        if c.cell_type == "code" and not _nbg(c).get("locked"):
            tree = _parse(c.source)
            used -= _top_level_names(tree) if tree is not None else set()
    answers = [i for i, c in enumerate(cells) if _nbg(c).get("solution")]
    aliases: dict[str, str] = {}  # what imports bound so far, in notebook order
    out: dict[int, list[str]] = {}
    for i, cell in enumerate(cells):
        meta = _nbg(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("locked"):
            scan_source(cell.source, {}, (), aliases)  # only to learn its imports
            continue
        findings = scan_source(cell.source, protected, forbidden, aliases, used)
        if not findings:
            continue
        label = f"answer cell '{meta['grade_id']}'" if meta.get("solution") else f"cell {i + 1}"
        later = [t for t in tests if t > i]
        nxt = min([a for a in answers if a > i], default=len(cells))
        part = [t for t in later if t < nxt] or later
        lines = cell.source.splitlines()
        for f in findings:
            quote = lines[f.line - 1].strip() if 0 < f.line <= len(lines) else ""
            where = f"line {f.line}" + (f": `{quote}`" if quote else "")
            if f.kind == "reference":
                targets = part if meta.get("solution") else later
                why = (
                    f"your {label} {f.what} ({where}), the course's reference "
                    "implementation of what this exercise asks you to write. Credit comes "
                    "from your own implementation, so this test scores 0."
                )
            else:
                targets = later
                why = (
                    f"your {label} {f.what} ({where}). Tests after it cannot be trusted, "
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
