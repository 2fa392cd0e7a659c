"""autograder.deferred_imports: reading a notebook no longer compiles jsonschema's IRI grammar,
and IRI format checks answer exactly as before. Each case runs in a fresh interpreter, since
this one may have imported either already."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax", reason="the package whose import is deferred is absent")

CHECK_IRIS = """
import json, sys, jsonschema
checker = jsonschema.FormatChecker()
values = ['http://example.com/\\u00e4', 'http://exa mple.com', '//relative', 'no scheme']
print(json.dumps([[checker.conforms(v, f) for f in ('iri', 'iri-reference')] for v in values]))
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_reading_a_notebook_builds_no_grammar():
    loaded = _run("import sys, autograder, nbformat, jsonschema; "
                  "print([m for m in ('lark', 'rfc3987_syntax.syntax_helpers') "
                  "if m in sys.modules])")
    assert loaded == "[]", f"imported at start-up: {loaded}"


def test_iri_checks_answer_as_without_the_stand_in():
    before = json.loads(_run(CHECK_IRIS))
    after = json.loads(_run("import autograder\n" + CHECK_IRIS))
    assert after == before
    assert before == [[True, True], [False, False], [False, True], [False, False]]


def test_the_real_package_replaces_the_stand_in_on_first_use():
    code = ("import sys, autograder, rfc3987_syntax\n"
            "grammar = rfc3987_syntax.syntax_parser  # a name the stand-in does not define\n"
            "print(sys.modules['rfc3987_syntax'] is not rfc3987_syntax, "
            "'rfc3987_syntax.syntax_helpers' in sys.modules)")
    assert _run(code) == "True True"
