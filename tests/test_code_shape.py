"""The package reads one job at a time: no function of more than ~60 lines without a stated reason."""

import ast

from conftest import ROOT

LONGEST = 60  # lines of a function, its docstring not counted
REASON = "Kept whole:"  # how a long function's docstring states why it is not split


def long_functions():
    """``(where, name, lines)`` of every function in the package longer than LONGEST lines (its
    docstring not counted) whose docstring does not state why it is kept whole."""
    out = []
    for path in sorted((ROOT / "legibility").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node) or ""
            body = node.body[1:] if doc else node.body
            lines = (body[-1].end_lineno - body[0].lineno + 1) if body else 0
            if lines > LONGEST and REASON not in doc:
                out.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.name, lines))
    return out


def test_no_long_function_without_a_stated_reason():
    assert long_functions() == []
