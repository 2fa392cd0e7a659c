"""Static checks of answer cells: code that tampers with the grading instead of answering.

nbgrader runs a student's answers and the tests in one kernel, so an answer cell can reach the
tests: patch the comparison helpers they use, import the reference solutions or the hidden
checks, or read them from disk. This scan reads each answer cell's code (it never runs it) and
reports such lines with a reason. The grader then withdraws the points they could have won
(see `autograder.policy`) and lists them in the grading report for the instructor to review.

Its limits, also stated in the instructor guide: a static scan catches what it can name. Code
built at run time from strings that this scan does not recognise can still get past it; the
dynamic calls that make that possible (`exec`, `eval`, `__import__`, `getattr` on modules,
`importlib`) are flagged themselves, and none of them is needed by any exercise.
"""
from __future__ import annotations

import ast

# Modules whose attributes the tests rely on: rebinding any of them is tampering. Every name a
# notebook binds with an import (`import torch.nn.functional as F`) is guarded as well.
GUARDED_MODULES = {"torch", "np", "numpy", "builtins", "math", "nbgrader", "autograder",
                   "solutions", "unittest", "pytest", "sys", "os", "inspect", "nn", "F"}
# Imports an answer never needs and a cheat always does.
FORBIDDEN_IMPORTS = {"autograder", "solutions", "importlib", "builtins", "ctypes", "gc",
                     "inspect", "nbgrader", "runpy", "pickle", "marshal", "resource", "unittest",
                     "mock", "pytest"}
# Calls that build or load code at run time, or reach the interpreter's internals.
FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "setattr",
                   "delattr", "breakpoint"}
# Dunder methods that let a returned object lie about its value or its type.
DECEPTIVE_METHODS = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__array__",
                     "__array_function__", "__array_ufunc__", "__instancecheck__", "__class__",
                     "__getattr__", "__getattribute__", "__float__", "__abs__", "__sub__",
                     "__lt__", "__le__", "__gt__", "__ge__"}
# Ways to reach a running test's local variables (its inputs and the reference's answer) from
# inside the student's function: call frames, tracebacks' frames, tracing hooks.
FRAME_ATTRIBUTES = {"f_back", "f_locals", "f_globals", "f_builtins", "tb_frame", "gi_frame",
                    "cr_frame", "ag_frame"}
FRAME_CALLS = {"_getframe", "currentframe", "settrace", "setprofile", "_current_frames"}
# A subclass of these can override the arithmetic that the checks compare results with.
ARRAY_TYPES = {"Tensor", "ndarray", "Parameter"}
# Words that only appear in code that goes looking for the grader's files.
SUSPICIOUS_WORDS = ("solutions", "autograder", "gradebook", "hidden test", "source/")


def imported_names(source: str) -> set[str]:
    """The names a cell binds by importing (``import numpy.testing as npt`` binds npt)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}


def scan_answer(source: str, modules: set[str] = frozenset()) -> list[str]:
    """Reasons why a cell's code looks like tampering (empty when it does not).

    ``modules``: names bound to modules elsewhere in the notebook, guarded like `torch`.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # a syntax error earns nothing by itself; nothing here to flag
    guarded = GUARDED_MODULES | set(modules) | imported_names(source)
    reasons = []
    for node in ast.walk(tree):
        reasons.extend(_node_reasons(node, guarded))
    return sorted(set(reasons))


def _node_reasons(node: ast.AST, guarded: set[str]) -> list[str]:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        value = getattr(node, "value", None)
        if isinstance(value, ast.Name) and value.id in GUARDED_MODULES:
            return [f"line {node.lineno}: gives the module {value.id} another name"]
        return [f"line {node.lineno}: rebinds {_dotted(t)}, which the tests use"
                for t in targets if isinstance(t, ast.Attribute) and _root(t) in guarded]
    if isinstance(node, ast.Import):
        return [f"line {node.lineno}: imports {alias.name}" for alias in node.names
                if alias.name.split(".")[0] in FORBIDDEN_IMPORTS]
    if isinstance(node, ast.ImportFrom):
        module = (node.module or "").split(".")[0]
        return [f"line {node.lineno}: imports from {node.module}"] if module in FORBIDDEN_IMPORTS else []
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name in FORBIDDEN_CALLS or name.split(".")[-1] in ("__import__", "import_module"):
            return [f"line {node.lineno}: calls {name}()"]
        if name.split(".")[-1] in FRAME_CALLS:
            return [f"line {node.lineno}: calls {name}(), which reaches the tests' variables"]
        if name == "getattr" and node.args and _root(node.args[0]) in guarded:
            return [f"line {node.lineno}: looks up {_dotted(node.args[0])} attributes by name"]
        return []
    if isinstance(node, ast.ClassDef):
        bases = [_dotted(base) for base in node.bases]
        return [f"line {node.lineno}: class {node.name} subclasses {base}, so its results can "
                "fake their arithmetic" for base in bases if base.split(".")[-1] in ARRAY_TYPES]
    if isinstance(node, ast.FunctionDef) and node.name in DECEPTIVE_METHODS:
        return [f"line {node.lineno}: defines {node.name}, which lets a result fake its value"]
    if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "__globals__", "__code__",
                                                        "__builtins__", "modules", "__closure__",
                                                        "__setattr__", "__delattr__"):
        if node.attr != "modules" or _dotted(node.value) == "sys":
            return [f"line {node.lineno}: reaches into {_dotted(node)}"]
        return []
    if isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRIBUTES:
        return [f"line {node.lineno}: reaches into {_dotted(node)}, a running frame's variables"]
    if isinstance(node, ast.Name) and node.id == "__builtins__":
        return [f"line {node.lineno}: reaches into __builtins__"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        words = [w for w in SUSPICIOUS_WORDS if w in node.value.lower()]
        return [f"line {node.lineno}: mentions {words[0]!r}"] if words else []
    return []


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[...]"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}(...)"
    return type(node).__name__


def _root(node: ast.AST) -> str:
    return _dotted(node).split(".")[0].split("[")[0].split("(")[0]
