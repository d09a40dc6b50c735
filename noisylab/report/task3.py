"""Task 3's report: what the audit found in mnistTask3's labels, then naive ``ce`` vs the
complementary loss(es) vs a pretrained start, and why naive ``ce`` fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from noisylab import stats
from noisylab.report import common, comparison


def audit_section(folder: Path, summary: dict | None) -> list[str]:
    """The audit's verdict, transition matrix and image grids (``summary`` is ``audit.json``,
    None when the experiment has no audit; the figures are in ``folder/audit/``)."""
    if summary is None:
        return ["## 1. What is wrong with the labels", "", "No audit in `audit/`.", ""]
    from noisylab.audit import verdict_lines

    d = summary["diagnosis"]
    lines = ["## 1. What is wrong with the labels (the audit)", "",
             f"`noisylab audit` cross-fitted a small CNN on the *given* labels of {summary['n']} "
             f"images ({summary['folds']} folds, {summary['epochs_per_fold']} epochs a fold, "
             f"{summary['seconds']:.0f} s) and estimated T[i, j] = P(given = j | true = i) from "
             "its out-of-sample predictions. No clean label was read. Its verdict "
             "(`audit/audit.json`):", ""]
    lines += [f"- {v}" for v in verdict_lines(summary)]
    lines += ["", d["summary"], "", "![transition matrix](audit/transition.png)", ""]
    m = summary.get("measured_with_trusted_labels") or {}
    if m:
        lines += [f"Measured afterwards against the true MNIST training labels (never an input): "
                  f"mean absolute error of T {m['mae']:.5f}, suggested true labels "
                  f"{100 * m['suggested_accuracy']:.2f}% right.", ""]
    grids = sorted((folder / "audit" / "grids").glob("given-*.png"))
    if grids:
        lines += ["What the images under a few given labels really are (rows: the true class the "
                  "audit suggests, with counts; all grids are in `audit/grids/`):", ""]
        lines += [f"![{g.stem}](audit/grids/{g.name})" for g in grids[:3]] + [""]
    lines += [f"The full audit report is `audit/report.md`. Recommended loss: "
              f"`{d['recommended_loss']}`.", ""]
    return lines


def why_section(conditions: dict, audit: dict | None = None) -> list[str]:
    """Why cross-entropy on complementary labels fails and the complementary loss works, with
    the measured accuracies of the cells that show it.

    ``audit`` is ``audit/audit.json`` when there is one: its accuracy of the suggested labels,
    measured against trusted labels, shows how strong a label a trained model's best allowed
    class is."""
    naive = [(name, runs) for name, runs in conditions.items()
             if runs and runs[0].info.get("loss") == "ce"]
    comp = [(name, runs) for name, runs in conditions.items()
            if runs and runs[0].info.get("loss") not in (None, "ce")]

    def acc(runs):
        return common.ci_text(stats.mean_ci([r.acc for r in runs if r.eval]),
                              scale=100, suffix="%")

    lines = ["## 2. Why naive cross-entropy fails, and why the complementary loss works", ""]
    lines += ["Each label in mnistTask3 names a digit the image is **not** (a complementary "
              "label). Cross-entropy reads a label as the class the image *is*, so it trains the "
              "model to put its probability on a wrong digit: the better it fits the labels, the "
              "surer it becomes of a class the image is not, and the argmax picks a wrong digit. "
              "Its test accuracy therefore never rises above chance (10%) and sinks toward 0% "
              "the longer it trains (a short run sits near chance: it has barely fitted the labels)."
              + (" Measured here: " + "; ".join(f"{n}: {acc(r)}" for n, r in naive) + "."
                 if naive else ""), "",
              "A complementary loss reads the label the right way round. SCL-NL minimises "
              "−log(1 − p(given class)), i.e. it maximises the probability that the image is "
              "*not* the given class. With uniform complementary labels each wrong class is given "
              "equally often and the true class never, so P(label = j | x) = (1 − P(true = j | x)) "
              "/ (K − 1); the model that best predicts which class an image is not therefore "
              "puts its highest probability on the true class, and the ordinary argmax is right "
              "(Chou et al. 2020; Ishida et al. 2017). Each such label rules out one class of "
              "ten, so it carries less information than a true label, which is why it learns "
              "more slowly and why a pretrained start and pseudo-labels help. Once a model "
              "has learnt the classes, its most probable allowed class is a far stronger label "
              "than the complementary one" + _suggested_accuracy(audit) + ": "
              "the distillation phase trains a fresh model on those labels with "
              "cross-entropy, which the complementary loss alone approaches only slowly."
              + (" Measured here: " + "; ".join(f"{n}: {acc(r)}" for n, r in comp) + "."
                 if comp else ""), ""]
    return lines


def _suggested_accuracy(audit: dict | None) -> str:
    """A parenthesis quoting how right the audit's suggested labels were, measured against
    trusted labels; ``""`` when the audit did not measure that (no trusted labels given)."""
    measured = (audit or {}).get("measured_with_trusted_labels") or {}
    if "suggested_accuracy" not in measured:
        return ""
    return (f" (even the audit's suggested labels, the most probable allowed class of a model "
            f"cross-fitted for {audit['epochs_per_fold']} epochs a fold, were "
            f"{100 * measured['suggested_accuracy']:.2f}% right, measured against the true "
            f"labels)")


def build(exp, folder: Path, conditions: dict, missing: list[str], *, root=None,
          log=print) -> list[str]:
    """The task 3 report."""
    r = exp.report
    body, _ = comparison.results(exp, folder, conditions, target=r["target"],
                                 target_on=r["target_on"], curves_of=("test_acc",))
    body = [re.sub(r"^## Results", "## 3. Results", line) for line in body]
    summary = common.read_json(folder / "audit" / "audit.json")
    return [*comparison.header(exp, conditions, missing), *audit_section(folder, summary),
            *why_section(conditions, summary), *comparison.setup(exp, conditions), *body,
            *comparison.tail(exp, folder, conditions)]
