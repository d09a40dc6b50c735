"""``noisylab demo``: the whole story on bundled data, in a few minutes on a CPU, offline.

scikit-learn's 1797 ``digits`` are split (seeded, stratified) into three disjoint parts that
mirror the exercise:

- a small **clean** set, standing in for the Part-1 digits: the "pretrained" model learns on it;
- a **noisy** training set whose labels are replaced by uniform complementary labels (each
  image labelled with a class it is *not*, as in mnistTask3): ``digits+complementary``;
- a **test** set with the true labels, only to report.

Then: pretrain on the clean part, audit the noisy labels (the pretrained model as the trusted
reference), train {scratch, pretrained} x {``ce``, ``scl-nl``} on them, and write ``report.md``
with a table, learning curves and the audit's findings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from noisylab import plots
from noisylab.outputs import prepare_output

#: Sizes of the clean (pretraining) and test parts; the rest is the noisy training set.
PRETRAIN_SIZE, TEST_SIZE = 300, 300
#: The four training cells: (init, loss).
CELLS = (("scratch", "ce"), ("scratch", "scl-nl"), ("pretrained", "ce"),
         ("pretrained", "scl-nl"))
#: Peak learning rate from scratch; a pretrained start is fine-tuned at a tenth of it, the usual
#: practice for transfer, so that the first steps refine its features instead of overwriting them.
LR, FINE_TUNE_LR = 3e-3, 3e-4
#: What the demo writes in its folder: all a re-run removes there (and a crash's temporary files).
OWNED = ("pretrain", "audit", *(f"{init}-{loss}" for init, loss in CELLS), "report.md",
         "curves.png", ".*.tmp")


def demo(out_dir: str | os.PathLike = "runs/demo", *, epochs: int = 40,
         audit_epochs: int | None = None, seed: int = 0, progress: bool = True,
         log: Callable[[str], None] = print) -> Path:
    """Run the demo and write ``out_dir/report.md``; returns its path.

    Parameters
    ----------
    out_dir : path
        Created; an earlier demo's own files there are replaced. A folder holding anything
        else is refused, and nothing in it is touched.
    epochs : int
        Epochs of each training cell (and of the pretraining).
    audit_epochs : int, optional
        Epochs of each cross-fitted audit model (default: the audit's own).
    """
    from noisylab.audit import audit, verdict_lines
    from noisylab.checkpoints import load_checkpoint
    from noisylab.data import load
    from noisylab.train import TrainConfig, train

    started = time.perf_counter()
    out = prepare_output(out_dir, "demo", replace=True, owned=OWNED)

    clean = load("digits")
    noisy_all = load("digits+complementary")  # same images, labels redrawn (seed fixed)
    parts = _three_parts(clean.labels.numpy(), seed)
    pretrain_set = clean.subset(parts["pretrain"])
    test_set = clean.subset(parts["test"])
    noisy = noisy_all.subset(parts["noisy"])
    true_noisy = clean.labels.numpy()[parts["noisy"]]  # for measuring only
    log(f"digits: {len(pretrain_set)} clean (pretraining), {len(noisy)} with complementary "
        f"labels (training), {len(test_set)} clean (test)")

    # 1. The "Part-1" model: ordinary labels, small clean set.
    log("1/3 pretraining on the clean part")
    quiet = {"progress": progress, "log": lambda m: None}
    base = dict(arch="lenet", epochs=epochs, batch_size=64, seed=seed)
    pre = train(pretrain_set, TrainConfig(loss="ce", data="digits (clean part)", lr=LR, **base),
                out_dir=out / "pretrain", test_set=test_set, **quiet)
    pretrained = load_checkpoint(out / "pretrain" / "best")

    # 2. What is wrong with the labels? Reads the given labels only; the pretrained model is the
    # trusted reference that names the classes (and, on data this small, separates them).
    log("2/3 auditing the noisy labels (the pretrained model as reference)")
    found = audit(noisy, out_dir=out / "audit", epochs=audit_epochs, seed=seed,
                  reference=out / "pretrain" / "best", name="digits+complementary (training part)",
                  progress=progress, log=lambda m: None)
    found.measured = _measure(found, true_noisy, noisy, noisy_all.meta["injected_transition"])
    summary = found.summary
    for line in verdict_lines(summary):
        log("   " + line)

    # 3. Train on the complementary labels: naive ce vs the complementary loss, both inits.
    log("3/3 training on the complementary labels")
    rows = []
    for init, loss in CELLS:
        name = f"{init}-{loss}"
        t0 = time.perf_counter()
        lr = FINE_TUNE_LR if init == "pretrained" else LR
        result = train(noisy, TrainConfig(loss=loss, init=init, data="digits+complementary",
                                          lr=lr, **base),
                       out_dir=out / name, test_set=test_set,
                       init_state=pretrained.state_dict if init == "pretrained" else None, **quiet)
        rows.append({"cell": name, "init": init, "loss": loss, "lr": lr,
                     "best_epoch": result.best_epoch,
                     "chosen_test_acc": result.best["test_acc"],
                     "last_test_acc": result.history[-1]["test_acc"],
                     "seconds": time.perf_counter() - t0,
                     "curve": [r["test_acc"] for r in result.history]})
        log(f"   {name:<20} test accuracy {100 * rows[-1]['chosen_test_acc']:5.1f}% "
            f"(epoch {result.best_epoch}, chosen on the given labels)")

    report = _write_report(out, summary, found.measured, pre, rows, len(pretrain_set), len(noisy),
                           len(test_set), time.perf_counter() - started)
    log(f"report: {report}  ({time.perf_counter() - started:.0f}s)")
    return report


def _measure(found, true: np.ndarray, noisy, drawn_from) -> dict:
    """The audit against the true labels (measuring only), and the sampling noise: how far the
    matrix the labels realise lies from the one ``drawn_from`` they were drawn from."""
    from noisylab.audit import measure

    m = measure(found.transition, found.suggested, true, noisy.labels.numpy(),
                len(noisy.classes))
    m["sampling_mae"] = float(np.mean(np.abs(np.asarray(m["true_transition"])
                                             - np.asarray(drawn_from))))
    return m


def _three_parts(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Disjoint stratified index sets ``pretrain``, ``test`` and ``noisy`` of ``labels`` ``(N,)``."""
    from noisylab.train import stratified_split

    n = len(labels)
    rest, test = stratified_split(labels, TEST_SIZE / n, seed)
    keep, pretrain = stratified_split(labels[rest], PRETRAIN_SIZE / len(rest), seed + 1)
    return {"pretrain": rest[pretrain], "test": test, "noisy": rest[keep]}


def _write_report(out: Path, summary: dict, measured: dict, pre, rows: list[dict], n_pre: int,
                  n_noisy: int, n_test: int, seconds: float) -> Path:
    from noisylab.audit import verdict_lines

    epochs = np.arange(1, len(rows[0]["curve"]) + 1)
    plots.curves({r["cell"]: (epochs, 100 * np.array(r["curve"]), None) for r in rows},
                 out / "curves.png", title="test accuracy while training on complementary labels",
                 xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100))
    d = summary["diagnosis"]
    lines = [
        "# noisylab demo: complementary labels on the bundled digits", "",
        f"scikit-learn's digits, split into {n_pre} images with true labels (standing in for the "
        f"Part-1 digits: the *pretrained* model learns on them), {n_noisy} images whose labels "
        f"were replaced by **uniform complementary labels** (each says a class the image is "
        f"*not*, like mnistTask3), and {n_test} test images with true labels (reported, never "
        f"used to choose). Total time {seconds:.0f} s.", "",
        "## 1. The audit (it reads the noisy labels only)", "",
        "The pretrained model is the audit's trusted reference: it names the classes, and on "
        "data this small it separates them better than a model of the noisy labels can.", ""]
    lines += [f"- {v}" for v in verdict_lines(summary)]
    lines += ["", d["summary"], "",
              f"Measured against the true labels afterwards: the estimated matrix is within "
              f"{measured['mae']:.4f} (mean absolute error) of the one these {n_noisy} labels "
              f"realise, which itself lies {measured['sampling_mae']:.4f} from the uniform matrix "
              "it was drawn from (sampling noise); the suggested true labels are "
              f"{100 * measured['suggested_accuracy']:.1f}% right. The reference and the "
              "cross-fitted model are combined as two independent opinions on each image, "
              "weighted by how well together they explain the given labels.", "",
              "![transition](audit/transition.png)", "",
              "## 2. Training on the complementary labels", "",
              f"Pretraining on the {n_pre} clean images alone: test accuracy "
              f"{100 * pre.best['test_acc']:.1f}%. A pretrained start is fine-tuned at a tenth of "
              f"the learning rate used from scratch ({FINE_TUNE_LR:g} against {LR:g}), the usual "
              "practice for transfer: its features are already good, and a full-size step would "
              "overwrite them before the weak complementary signal could refine them.", "",
              "| init | loss | peak lr | test accuracy (chosen epoch) | chosen epoch | last epoch "
              "| seconds |", "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['init']} | `{r['loss']}` | {r['lr']:g} | {100 * r['chosen_test_acc']:.1f}% | "
              f"{r['best_epoch']} | {100 * r['last_test_acc']:.1f}% | {r['seconds']:.0f} |"
              for r in rows]
    lines += ["", "![curves](curves.png)", "",
              "**Why naive `ce` fails.** Cross-entropy on a complementary label teaches the model "
              "that the image *is* the class it is not; its argmax lands on a wrong digit, so "
              "test accuracy falls toward 0% (starting from the pretrained model, `ce` unlearns "
              "it).", "",
              "**Why `scl-nl` works.** It maximises log(1 - p(given class)): the probability of "
              "the class the image is *not*. Under uniform complementary labels, the model that "
              "minimises this risk puts its largest probability on the true class (Chou et al. "
              "2020), so the ordinary argmax is the right answer. Each complementary label says "
              "less than a true one (one class ruled out of ten), which is why the pretrained "
              "start helps so much on a set this small.", "",
              "## References", "",
              "- Y.-T. Chou, G. Niu, H.-T. Lin, M. Sugiyama. Unbiased risk estimators can mislead: "
              "a case study of learning with complementary labels. ICML 2020 (SCL-NL).",
              "- T. Ishida, G. Niu, W. Hu, M. Sugiyama. Learning from complementary labels. "
              "NeurIPS 2017.",
              "- Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to "
              "document recognition. Proc. IEEE 1998 (LeNet).",
              "- C. Northcutt, L. Jiang, I. Chuang. Confident learning: estimating uncertainty in "
              "dataset labels. JAIR 2021 (cleanlab, beside the audit).", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
