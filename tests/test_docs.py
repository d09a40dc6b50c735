"""The documentation stays true to the code: the CLI page is current, the README is short, links
resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"),
                ROOT / "experiments" / "README.md", ROOT / "datasets" / "README.md"])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_page_is_current():
    gen = _gen_cli()
    page = ROOT / "docs" / "cli.md"
    assert page.exists(), "docs/cli.md is missing: run `.venv/bin/python docs/gen_cli.py`"
    assert page.read_text() == gen.render(), (
        "docs/cli.md is stale (a command's --help changed): run `.venv/bin/python docs/gen_cli.py` "
        "and commit docs/cli.md")


def test_cli_page_covers_every_command():
    gen = _gen_cli()
    from noisylab.cli import cli

    paths = gen.commands(cli)
    assert () in paths and ("train",) in paths and ("data", "info") in paths
    text = (ROOT / "docs" / "cli.md").read_text()
    for path in paths:
        assert f"\n## {' '.join(('noisylab', *path))}\n" in text


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail into docs/")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text())
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(page: Path) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text()))
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: " + "; ".join(broken)


def test_slug_matches_github():
    assert _slug("What `--loss auto` does") == "what---loss-auto-does"
    assert _slug("The writer's size, after the glyph model") == "the-writers-size-after-the-glyph-model"
    assert _slug("Epochs: 30 or 60") == "epochs-30-or-60"


def test_readme_example_folder(tmp_path, capsys):
    """The README's walk-through starts from this folder: 1500 images with about 20% of each
    class filed under the next class, and 297 correctly filed test images."""
    spec = importlib.util.spec_from_file_location("make_digit_folder",
                                                  ROOT / "docs" / "make_digit_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "myfolder")
    train = sorted((tmp_path / "myfolder").glob("*/*.png"))
    test = sorted((tmp_path / "myfolder-test").glob("*/*.png"))
    assert len(train) == 1500 and len(test) == 297
    assert sorted(p.name for p in (tmp_path / "myfolder").iterdir()) == [str(d) for d in range(10)]
    assert "333 filed under the next class" in capsys.readouterr().out
