"""The shape the package keeps: short functions, and a core that knows no kind of data.

These read the source as text and syntax trees; they run no model. A failure names the function
or the line, so it can be fixed where it is.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import noisylab

PACKAGE = Path(noisylab.__file__).parent
MAX_FUNCTION_LINES = 80
#: Words that belong to the add-on for handwriting collections, never to the core (the
#: standard library's ``csv.writer`` is not one of them).
ADDON_WORDS = re.compile(r"(?<!csv\.)\b(writer|writers|one_of_each)\b", re.IGNORECASE)


def _sources(*, core_only: bool = False) -> list[Path]:
    paths = sorted(PACKAGE.rglob("*.py"))
    if core_only:
        paths = [p for p in paths if "addons" not in p.relative_to(PACKAGE).parts]
    return paths


def function_lengths(path: Path) -> list[tuple[str, int, int]]:
    """``(name, first line, number of lines)`` of every function and method in ``path``,
    docstring and decorators' lines excluded from neither (the span from ``def`` to its end)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(node.name, node.lineno, node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_function_lengths_are_measured_from_def_to_end(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def short():\n    return 1\n\n\nclass C:\n    def method(self):\n"
                    "        x = 1\n        return x\n")
    assert sorted(function_lengths(path)) == [("method", 6, 3), ("short", 1, 2)]


def test_no_function_is_longer_than_the_limit():
    long = [f"{p.relative_to(PACKAGE.parent)}:{line} {name} ({n} lines)"
            for p in _sources() for name, line, n in function_lengths(p)
            if n > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + "; ".join(long)


def test_the_core_names_no_addon_words():
    assert ADDON_WORDS.search("group by writer") and not ADDON_WORDS.search("csv.writer(f)")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}"
            for p in _sources(core_only=True)
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if ADDON_WORDS.search(line)]
    assert not hits, "the core mentions the writers add-on:\n" + "\n".join(hits[:20])
