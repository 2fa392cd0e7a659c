"""Start-up time: build jsonschema's IRI grammar when an IRI is first checked, not on import.

Every process that reads a notebook imports nbformat, which imports jsonschema, whose format
checkers import `rfc3987_syntax`; that package compiles some thirty Lark (Earley) parsers at
import time: 1.0 s of the 3.1 s a `python -m autograder` command took to start on 2 cores,
paid again by every grading worker. No notebook or gradebook schema the course uses has an
`iri` format, so the grammar is rarely needed. `defer_iri_grammar()` puts a small stand-in
module in its place; the real package is imported the first time anything is looked up on it
or an IRI is checked, and checks give the same answers (tests/test_deferred_imports.py).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

NAME = "rfc3987_syntax"


def defer_iri_grammar() -> None:
    """Put the stand-in for `rfc3987_syntax` in sys.modules (where the package is installed and
    not yet imported; elsewhere this does nothing)."""
    if NAME in sys.modules or importlib.util.find_spec(NAME) is None:
        return
    stand_in = types.ModuleType(NAME, "rfc3987_syntax, imported on first use (autograder)")

    def real():
        if sys.modules.get(NAME) is stand_in:
            del sys.modules[NAME]
        module = importlib.import_module(NAME)
        sys.modules[NAME] = module
        return module

    def is_valid_syntax(term: str, value: str) -> bool:
        return real().is_valid_syntax(term, value)

    def other_name(name: str):
        if name.startswith("__"):  # the import system asks for __path__ and the like
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # what jsonschema imports by name
    stand_in.__getattr__ = other_name  # anything else, from the real package
    sys.modules[NAME] = stand_in
