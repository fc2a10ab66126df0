"""What a homework part may not call, and the inspection that enforces it.

Each implementation part has a :class:`Rule`: the seglab function it re-implements and the PyTorch/torchvision
built-ins that compute the same thing. :func:`obey` reads the student's function (its source through ``inspect``,
parsed with ``ast``; helpers it calls that were defined in the same notebook too) and returns a failing
:class:`~seglab.check.core.CheckResult` that names the forbidden call and the rule, or ``None`` when it is clean.

It resolves names the way Python would (the function's globals, closure and its own imports), so ``import ... as``,
``from ... import``, ``getattr(module, "name")`` and ``x = module.name`` aliases are caught; ``__import__``,
``importlib``, ``eval``/``exec``, ``getattr`` with a computed name and other dynamic look-ups are refused outright,
because what they reach cannot be read from the source. What it cannot see: code run outside the function (an answer
cell that changes seglab.check itself), and re-typed copies of library code. The homework guide says so.

The rules apply in a Jupyter kernel (the student's notebook, nbgrader's autograde, nbval); plain Python (seglab's own
unit tests, which hand the references themselves to the checks) leaves them off unless :func:`enforced` says so.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import inspect
import sys
import textwrap
import types
from dataclasses import dataclass

from seglab.check.core import CheckResult

__all__ = ["Rule", "obey", "violations", "enforced", "ALWAYS_FORBIDDEN"]

#: Packages no implementation part may reach into: seglab itself (its ops, metrics, models and these checks hold
#: the answers), torchvision's ops, and PyTorch's raw operator tables (which hold every built-in under other names).
ALWAYS_FORBIDDEN = ("seglab", "torchvision", "torch.ops", "torch._C", "torch._ops", "torch._refs", "torch._decomp",
                    "torch._prims")
#: Objects that live in a forbidden module but answer nothing (random generators).
ALLOWED = ("torch.Generator",)
#: Built-ins that look things up by a string the source does not show.
DYNAMIC = {"__import__", "eval", "exec", "compile", "globals", "vars", "locals", "breakpoint"}
_DYNAMIC_ATTRIBUTES = {"__dict__", "__builtins__", "__globals__", "__getattribute__", "__code__", "modules",
                       "import_module"}

_ENFORCE: list[bool | None] = [None]  # None: enforce where students' code runs, in a Jupyter kernel


def _in_kernel() -> bool:
    """True inside a Jupyter kernel: a student's notebook, nbgrader's autograde, nbval."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel brings IPython
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


@contextlib.contextmanager
def enforced(on: bool | None):
    """Turn the rules on (True) or off (False) inside a ``with`` block; ``None`` is the default: on in a Jupyter
    kernel (where students write and graders run the notebooks), off in plain Python, where seglab's own tests pass
    the references themselves to the checks."""
    _ENFORCE.append(on)
    try:
        yield
    finally:
        _ENFORCE.pop()


@dataclass(frozen=True)
class Rule:
    """A part's rule: ``what`` the student writes, the ``forbidden`` dotted names (a name ending ``.*`` forbids a
    whole module), and ``text``, the rule in words as the homework states it."""

    what: str
    forbidden: tuple[str, ...]
    text: str = ""

    def describe(self) -> str:
        shown = ", ".join(f"`{_short_name(name)}`" for name in self.forbidden)
        extra = f" {self.text}" if self.text else ""
        listed = f"{shown}, nor anything" if shown else "anything"
        return f"write {self.what} yourself: do not call {listed} from `seglab` or `torchvision`.{extra}"

    def _prefixes(self) -> tuple[str, ...]:
        return ALWAYS_FORBIDDEN + tuple(n[:-2] for n in self.forbidden if n.endswith(".*"))

    def _objects(self) -> dict[int, str]:
        found = {}
        for name in self.forbidden:
            if name.endswith(".*"):
                continue
            obj = _import_dotted(name)
            if obj is not None:
                found[id(obj)] = name
        return found

    def _names(self) -> set[str]:
        return {n.rsplit(".", 1)[-1] for n in self.forbidden if not n.endswith(".*")}


def _short_name(name: str) -> str:
    for long, short in (("torch.nn.functional.", "F."), ("torch.nn.", "nn.")):
        if name.startswith(long):
            return short + name[len(long):]
    return name


def _import_dotted(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _module_name(obj) -> str | None:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else None


def _under(name: str | None, prefixes) -> str | None:
    if not name:
        return None
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


class _Inspector:
    def __init__(self, rule: Rule):
        self.rule, self.prefixes, self.objects, self.names = rule, rule._prefixes(), rule._objects(), rule._names()
        self.allowed = {id(obj) for obj in map(_import_dotted, ALLOWED) if obj is not None}
        self.found: list[str] = []
        self.seen: set[int] = set()

    def forbidden(self, obj) -> str | None:
        """The rule's name for ``obj`` when it is forbidden, else None."""
        if id(obj) in self.objects:
            return self.objects[id(obj)]
        if id(obj) in self.allowed:
            return None
        if obj is importlib or obj is sys:
            return obj.__name__
        if isinstance(obj, (int, float, str, bool, tuple, type(None))):  # constants (e.g. IGNORE_INDEX) are fine
            return None
        prefix = _under(_module_name(obj), self.prefixes)
        if prefix:
            return f"{_module_name(obj)}.{getattr(obj, '__qualname__', '')}".rstrip(".") if not isinstance(
                obj, types.ModuleType) else obj.__name__
        return None

    def add(self, where: str, message: str) -> None:
        entry = f"{where}: {message}"
        if entry not in self.found:
            self.found.append(entry)

    def visit_function(self, func) -> None:
        if id(func) in self.seen:
            return
        self.seen.add(id(func))
        name = getattr(func, "__name__", repr(func))
        bad = self.forbidden(func)
        if bad:
            self.add(name, f"is {bad} itself")
            return
        if isinstance(func, type):
            for member in vars(func).values():
                if isinstance(member, (types.FunctionType, staticmethod, classmethod)):
                    self.visit_function(getattr(member, "__func__", member))
            return
        if not isinstance(func, types.FunctionType):
            self.add(name, "its source cannot be read (define it with `def` in your notebook)")
            return
        try:  # read from the code object: ``__wrapped__`` could point inspect at another function's source
            source = textwrap.dedent(inspect.getsource(func.__code__))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError):
            self.add(name, "its source cannot be read (define it with `def` in your notebook)")
            return
        scope = dict(vars(builtins))
        scope.update(func.__globals__)
        closure = inspect.getclosurevars(func).nonlocals if func.__closure__ else {}
        scope.update(closure)
        self.visit_tree(tree, scope, name, func.__module__)

    def resolve(self, node, scope):
        """The object an expression of names and attributes stands for, or a marker when unknown."""
        if isinstance(node, ast.Name):
            return scope.get(node.id, _UNKNOWN)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value, scope)
            if base is _UNKNOWN:
                return _UNKNOWN
            try:
                return inspect.getattr_static(base, node.attr) if not isinstance(base, types.ModuleType) else \
                    getattr(base, node.attr)
            except AttributeError:
                return _UNKNOWN
        return _UNKNOWN

    def visit_tree(self, tree, scope, where, module) -> None:
        scope = dict(scope)
        for name in _local_names(tree):  # parameters and assigned names are the function's own, not globals
            scope.pop(name, None)
        for node in ast.walk(tree):  # the function's own imports bind names first
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _import_dotted(alias.name)
                    self.check_object(target, alias.name, where)
                    if alias.asname:
                        scope[alias.asname] = target
                    else:
                        scope[alias.name.split(".")[0]] = _import_dotted(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                if node.level:
                    self.add(where, f"imports relatively ({base})")
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        self.add(where, f"imports * from {base}")
                        continue
                    target = _import_dotted(f"{base}.{alias.name}")
                    self.check_object(target, f"{base}.{alias.name}", where)
                    self.check_object(_import_dotted(base), base, where)
                    scope[alias.asname or alias.name] = target
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in DYNAMIC and scope.get(node.id) is getattr(builtins, node.id, None):
                    self.add(where, f"uses {node.id}() (a dynamic look-up the check cannot follow)")
                    continue
                target = scope.get(node.id, _UNKNOWN)
                if target is _UNKNOWN and node.id in self.names:  # a local alias the check cannot resolve
                    self.add(where, f"uses {node.id}")
                self.follow(target, node.id, where, module)
            elif isinstance(node, ast.Attribute):
                if node.attr in _DYNAMIC_ATTRIBUTES:
                    self.add(where, f"uses .{node.attr} (a dynamic look-up the check cannot follow)")
                    continue
                target = self.resolve(node, scope)
                if target is _UNKNOWN and node.attr in self.names:
                    self.add(where, f"uses .{node.attr}")
                self.follow(target, ast.unparse(node), where, module)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "getattr", "hasattr", "setattr") and scope.get(node.func.id) is getattr(builtins, node.func.id):
                if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(
                        node.args[1].value, str)):
                    self.add(where, f"uses {node.func.id}() with a computed name (a dynamic look-up the check "
                                    "cannot follow)")
                    continue
                attr = node.args[1].value
                target = self.resolve(ast.Attribute(value=node.args[0], attr=attr, ctx=ast.Load()), scope)
                if target is _UNKNOWN and attr in self.names:
                    self.add(where, f"uses {node.func.id}(..., {attr!r})")
                self.follow(target, f"{ast.unparse(node.args[0])}.{attr}", where, module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in self.names:
                self.add(where, f"names {node.value!r}")

    def check_object(self, obj, shown: str, where: str, depth: int = 0) -> bool:
        if obj is None or obj is _UNKNOWN:
            return False
        if depth < 2:  # what a container or a partial holds is called through it
            inner = ([obj.func] if isinstance(obj, functools.partial) else list(obj.values()) if isinstance(obj, dict)
                     else list(obj) if isinstance(obj, (list, tuple, set, frozenset)) else [])
            if any(self.check_object(item, f"{shown}[...]", where, depth + 1) for item in inner[:1000]):
                return True
        bad = self.forbidden(obj)
        if bad:
            self.add(where, f"uses {bad}" + (f" (as {shown})" if shown != bad else ""))
            return True
        return False

    def follow(self, obj, shown: str, where: str, module: str) -> None:
        if obj is _UNKNOWN or self.check_object(obj, shown, where):
            return
        # a helper written in the same notebook is read too, under the same rule
        if isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == module:
            self.visit_function(obj)


_UNKNOWN = object()


def _local_names(tree) -> set[str]:
    """Names a function binds itself (its parameters, assignments, loop and ``with`` targets, inner definitions),
    except the top-level function's own name."""
    names = set()
    top = tree.body[0] if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.Lambda)) else None
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not top:
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def violations(student, rule: Rule) -> list[str]:
    """What in ``student`` (and the helpers it calls from the same notebook) breaks ``rule``; empty when clean."""
    inspector = _Inspector(rule)
    inspector.visit_function(student)
    return inspector.found


def obey(student, rule: Rule, *, name: str | None = None) -> CheckResult | None:
    """A failing :class:`CheckResult` naming the forbidden call and the rule, or None when ``student`` obeys it."""
    on = _ENFORCE[-1]
    if not (_in_kernel() if on is None else on):
        return None
    found = violations(student, rule)
    if not found:
        return None
    name = name or getattr(student, "__name__", "your function")
    listed = "\n".join(f"- {line}" for line in found)
    return CheckResult(name, False, f"not allowed in this part:\n{listed}\nthe rule: {rule.describe()}",
                       {"forbidden": found})
