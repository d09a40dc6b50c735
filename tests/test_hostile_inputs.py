"""The quick subset of benchmarks/hostile_inputs.py: hostile inputs through the command line,
each in its own process, must be refused in one line, skipped by name, or work, with the user's
files intact. The whole set (about fifty cases, a few minutes) runs with
``python benchmarks/hostile_inputs.py``; a case still waiting for work named in its ``awaits``
is an expected failure here until that work lands."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile_inputs.py"
_SPEC = importlib.util.spec_from_file_location("hostile_inputs", _PATH)
hostile = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = hostile  # its dataclasses look their module up there
_SPEC.loader.exec_module(hostile)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return hostile.Work(tmp_path_factory.mktemp("hostile").resolve(), timeout=120)


def _param(case):
    marks = [pytest.mark.xfail(reason=f"awaits {case.awaits}", strict=False)] if case.awaits \
        else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in hostile.select(fast=True)])
def test_hostile_input_is_handled(case, work):
    outcome = hostile.run_case(case, work)
    assert outcome.handled, outcome.said


def test_the_fast_subset_spans_the_kinds_of_hostile_input():
    kinds = {c.kind for c in hostile.select(fast=True)}
    assert {"data loss", "odd file", "filesystem", "late check"} <= kinds
    assert len(hostile.CASES) >= 35


def test_the_judge_refuses_what_is_not_handled(tmp_path):
    user = tmp_path / "notes.txt"
    user.write_bytes(b"mine")
    plan = hostile.Plan(["x"], protect=[user])
    before = {user: hostile.snapshot(user)}
    assert hostile.judge(plan, 2, "error: one line\n", before) == (True, "error: one line")
    assert not hostile.judge(plan, 0, "done\n", before)[0]  # a refusal was due
    assert not hostile.judge(plan, 2, "error: a\nerror: b\n", before)[0]
    assert not hostile.judge(plan, 2, "error: a\nsecond line\n", before)[0]
    assert not hostile.judge(plan, 1, "Traceback (most recent call last):\nX\n", before)[0]
    assert not hostile.judge(plan, None, "", before)[0]  # a hang
    user.write_bytes(b"changed")
    assert hostile.judge(plan, 2, "error: one line\n", before) == (
        False, "file changed: notes.txt")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"a")
    plan = hostile.Plan(["x"], protect=[folder])
    before = {folder: hostile.snapshot(folder)}
    (folder / ".noisylab").write_text("{}")
    assert hostile.judge(plan, 2, "error: x\n", before) == (False, "wrote into mine: .noisylab")
