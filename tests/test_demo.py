"""`noisylab demo` end to end on the bundled digits (few epochs): files, and numbers that match."""

import json
import re

from click.testing import CliRunner

from noisylab.cli import cli
from noisylab.runs import read_metrics


def test_demo_writes_a_report_whose_numbers_are_the_runs(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    for name in ("audit/transition.png", "curves.png"):
        assert (out / name).is_file()
    audit = json.loads((out / "audit" / "audit.json").read_text())
    assert audit['diagnosis']['kind'] in report and audit['diagnosis']['summary'] in report

    rows = re.findall(r"^\| (scratch|pretrained) \| `([a-z-]+)` \| [\de.-]+ \| ([\d.]+)% \| (\d+) \| "
                      r"([\d.]+)% \|",
                      report, flags=re.M)
    assert len(rows) == 4
    for init, loss, chosen, epoch, last in rows:
        history = read_metrics(out / f"{init}-{loss}")
        assert len(history) == 2
        best = next(r for r in history if r["epoch"] == int(epoch))
        assert float(chosen) == round(100 * best["test_acc"], 1)
        assert float(last) == round(100 * history[-1]["test_acc"], 1)


def test_demo_rejects_zero_epochs(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--epochs", "0"])
    assert result.exit_code == 2
    assert "--epochs" in result.output
