"""The files an audit writes: ``report.md``, ``transition.json``/``.png`` with intervals, image
grids, ``label_issues.csv``, cleanlab's figures and ``audit.json``.

Everything here reads an `noisylab.audit.AuditResult` and the images; nothing is estimated.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from noisylab import plots
from noisylab.noise import cleanlab_assumption_holds

MEANING = "T[i][j] = P(given = j | true = i); rows true classes, columns given labels"


def safe_name(name: str) -> str:
    """A class name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def write_outputs(result, ds, *, probe, data: str, is_source: bool, epochs: int,
                  folds: int, precision: str) -> list[Path]:
    """Write every file of the audit into ``result.out_dir``; returns their paths."""
    out, classes, diag = result.out_dir, list(result.classes), result.diagnosis
    holds, sentence = cleanlab_assumption_holds(result.transition,
                                                class_prior=result.estimator.class_prior_)
    files = [_transition_json(out, classes, diag), transition_heatmap(diag, classes,
                                                                    out / "transition.png")]
    files += _cleanlab_figures(out, classes, result)
    files += _grids(out, classes, ds, result.suggested)
    files.append(_issues_csv(out, classes, ds, result.issues))
    summary = {
        "data": data, "data_is_source": is_source, "folder": str(out), "n": len(ds),
        "classes": classes,
        "seconds": result.seconds,
        "family": probe.family, "probe_nll": probe.nll, "prior_nll": probe.prior_nll,
        "folds": folds, "epochs_per_fold": epochs, "precision": precision,
        "stack_weights": result.stack_weights,
        "diagnosis": diag.to_dict(),
        "transition": {"classes": classes, "matrix": diag.transition_matrix.tolist()},
        "n_issues": int(result.issues.is_issue.sum()),
        "cleanlab": {k: v for k, v in result.cleanlab.items()
                     if k in ("cleanlab_version", "overall_label_health_score", "noise_rate",
                              "n_issues")},
        "cleanlab_assumption_holds": holds, "cleanlab_sentence": sentence,
        "measured_with_trusted_labels": {k: v for k, v in result.measured.items()
                                         if k != "true_transition"},
    }
    result.summary = summary
    (out / "audit.json").write_text(json.dumps(summary, indent=1))
    (out / "report.md").write_text(report_markdown(summary))
    from noisylab.audit_html import write_html

    html_path = write_html(result, ds, summary, out / "report.html")
    return files + [out / "audit.json", out / "report.md", html_path]


def _transition_json(out: Path, classes: list, diag) -> Path:
    iv = diag.intervals
    content = {"classes": classes, "matrix": diag.transition_matrix.tolist(), "kind": diag.kind,
               "decided": diag.decided, "candidates": list(diag.candidates),
               "probability": diag.confidence, "meaning": MEANING}
    if iv is not None:
        content["interval"] = {"level": iv.level, "replicates": iv.replicates,
                               "lower": iv.transition[0].tolist(),
                               "upper": iv.transition[1].tolist()}
    if not diag.decided:
        content["readings"] = {r.kind: r.transition_matrix.tolist() for r in diag.readings}
    path = out / "transition.json"
    path.write_text(json.dumps(content, indent=1))
    return path


def transition_heatmap(diag, classes: list, path: Path) -> Path:
    """``T`` as a heatmap; each cell of a small matrix shows its value and 95% interval."""
    import matplotlib.pyplot as plt

    T = diag.transition_matrix
    K = len(classes)
    size = max(5.0, 0.62 * K + 1.5) if K <= 12 else max(6.0, 0.14 * K + 2)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(T, cmap="viridis", vmin=0, vmax=max(float(T.max()), 1e-9))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    font = 8 if K <= 20 else 5
    ax.set_xticks(range(K), classes, fontsize=font)
    ax.set_yticks(range(K), classes, fontsize=font)
    ax.set_xlabel("given label")
    ax.set_ylabel("true class (estimated)")
    kinds = diag.kind if diag.decided else " or ".join(diag.candidates)
    ax.set_title(f"P(given | true): {kinds}, probability {diag.confidence:.2f}", fontsize=9)
    iv = diag.intervals
    if K <= 12:
        for i in range(K):
            for j in range(K):
                text = f"{T[i, j]:.3f}"
                if iv is not None:
                    text += f"\n[{iv.transition[0, i, j]:.3f},\n{iv.transition[1, i, j]:.3f}]"
                ax.text(j, i, text, ha="center", va="center", fontsize=5.5,
                        color="black" if T[i, j] > 0.6 * T.max() else "white")
    if iv is not None:
        fig.text(0.01, 0.01, f"[lower, upper]: {100 * iv.level:.0f}% bootstrap interval over "
                 f"images ({iv.replicates} replicates)", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _cleanlab_figures(out: Path, classes: list, result) -> list[Path]:
    diag = result.diagnosis
    return [
        plots.heatmap(np.asarray(result.cleanlab["transition_matrix"]),
                      out / "cleanlab_transition.png", row_labels=classes, col_labels=classes,
                      title="cleanlab's estimate of P(given | true)", xlabel="given label",
                      ylabel="true class", annotate=len(classes) <= 12),
        plots.bars({"noisylab\nnoise rate": diag.noise_rate,
                    "cleanlab\nnoise rate": result.cleanlab["noise_rate"],
                    "cleanlab\nhealth score": result.cleanlab["overall_label_health_score"]},
                   out / "cleanlab_vs_noisylab.png", title="noise rate: noisylab vs cleanlab",
                   ylabel=""),
    ]


def _grids(out: Path, classes: list, ds, suggested: np.ndarray) -> list[Path]:
    """One grid per given label: what its images really are, by suggested class."""
    rng = np.random.default_rng(0)
    images = ds.images[:, 0].numpy()
    given = ds.labels.numpy()
    files = []
    for j, name in enumerate(classes):
        members = np.flatnonzero(given == j)
        sugg = suggested[members]
        order = np.argsort(-np.bincount(sugg, minlength=len(classes)))
        rows = []
        for c in order[:10]:
            hit = members[sugg == c]
            if len(hit):
                pick = rng.choice(hit, size=min(12, len(hit)), replace=False)
                rows.append((f"{classes[c]} ({len(hit)})", images[pick]))
        files.append(plots.image_grid(
            rows, out / "grids" / f"given-{safe_name(name)}.png",
            title=f"given label '{name}': images grouped by suggested true class (count)"))
    return files


def _issues_csv(out: Path, classes: list, ds, issues) -> Path:
    """``label_issues.csv``: one row per image, from whole columns (a dict per row costs a
    third of a second on 60,000 images)."""
    path = out / "label_issues.csv"
    names = np.asarray(classes, dtype=object)
    rows = zip(map(str, ds.ids), names[ds.labels.numpy()], names[issues.suggested_label],
               [f"{q:.4f}" for q in np.asarray(issues.label_quality).tolist()],
               np.asarray(issues.is_issue).astype(int).tolist(), strict=True)
    with open(path, "w", newline="") as f:
        table = csv.writer(f)
        table.writerow(["id", "given_label", "suggested_label", "label_quality", "is_issue"])
        table.writerows(rows)
    return path


def _interval(iv: dict | None, key: str, scale: float = 1.0, fmt: str = ".4f") -> str:
    if not iv:
        return ""
    lo, hi = iv[key]
    return f" (95% interval {format(scale * lo, fmt)} to {format(scale * hi, fmt)})"


def verdict_lines(summary: dict) -> list[str]:
    """The short verdict the CLI prints (and the report opens with)."""
    d = summary["diagnosis"]
    iv = d.get("intervals")
    keep = np.asarray(d["keep_rate"])
    if d["decided"]:
        head = f"kind: {d['kind']}   probability {d['confidence']:.2f}"
    else:
        head = (f"kind: cannot tell {' from '.join(d['candidates'])} from these labels "
                f"(probability {d['confidence']:.2f} that it is one of them)")
    lines = [head,
             f"noise rate: {100 * d['noise_rate']:.2f}% of labels are not the true class"
             + _interval(iv, "noise_rate", 100, ".2f"),
             f"keep rate: mean {keep.mean():.4f} (per class {keep.min():.4f}..{keep.max():.4f})",
             f"label issues: {summary['n_issues']} of {summary['n']}"]
    if d.get("runner_up") and d.get("log_odds") is not None:
        lines.append(f"evidence: '{d['model']}' against '{d['runner_up']}', the best model of "
                     f"another kind, on held-out labels: {_odds(d['log_odds'])}")
    lines.append(_next_line(summary, d))
    cl = summary["cleanlab"]
    lines.append(f"cleanlab says: health score {cl['overall_label_health_score']:.3f}, "
                 f"noise rate {cl['noise_rate']:.3f}"
                 + ("" if summary["cleanlab_assumption_holds"] else " (its assumption fails here)"))
    return lines


def _odds(log_odds: float) -> str:
    decades = log_odds / np.log(10)
    return f"{np.exp(log_odds):.1f} to 1" if decades < 3 else f"10^{decades:.0f} to 1"


def _next_line(summary: dict, d: dict) -> str:
    loss = d["recommended_loss"]
    if loss is None and d["kind"] == "unrelated" and d["decided"]:
        return "next: these labels carry no usable signal; do not train on them"
    if loss is None:
        return "next: decide the reading first: " + d["what_decides"]
    if loss == "relabel":
        return "next: relabel with the mapping in audit.json (a permutation of classes)"
    from noisylab.losses import takes_transition  # torch: only once there is a verdict

    # the forward losses train with the audit's matrix, not a default one
    matrix = (f" --transition {Path(summary['folder']) / 'transition.json'}"
              if takes_transition(loss) and summary.get("folder") else "")
    if summary.get("data_is_source", True):
        return f"next: noisylab train --data {summary['data']} --loss {loss}{matrix}"
    return f"next: train with --loss {loss}{matrix}"


def report_markdown(summary: dict) -> str:
    """``report.md``: verdict, the evidence, the matrix with intervals, grids, cleanlab."""
    d = summary["diagnosis"]
    lines = [f"# Label audit: {summary['data']}", "",
             f"{summary['n']} images, {len(summary['classes'])} given labels; audited in "
             f"{summary['seconds']:.0f} s.", "", "## Verdict", ""]
    lines += [f"- {v}" for v in verdict_lines(summary)]
    lines += ["", "## In words", "", d["summary"], ""]
    lines += _models_section(d) + _method_section(summary) + _matrix_section(summary)
    lines += _readings_section(summary)
    lines += ["## What each given label really holds", "",
              "Each grid shows images under one given label, one row per suggested true class "
              "(with its count).", ""]
    lines += [f"![given {c}](grids/given-{safe_name(c)}.png)" for c in summary["classes"]]
    cl = summary["cleanlab"]
    lines += ["", "## What cleanlab says on the same predictions", "",
              f"cleanlab {cl.get('cleanlab_version', '')}: overall label health score "
              f"{cl['overall_label_health_score']:.3f}, estimated noise rate {cl['noise_rate']:.3f}"
              f" (noisylab: {d['noise_rate']:.3f}).", "", summary["cleanlab_sentence"], "",
              "![cleanlab vs noisylab](cleanlab_vs_noisylab.png) "
              "![cleanlab transition](cleanlab_transition.png)", ""]
    lines += _measured_section(summary["measured_with_trusted_labels"])
    lines += ["## Files", "", "`report.html` (this report as one page: click the matrix to see "
              "the images behind each entry), `transition.json` (with its intervals), "
              "`transition.png`, "
              "`grids/given-*.png`, `label_issues.csv` (one row per image: id, given, suggested, "
              "quality, issue), `cleanlab_*.png`, `audit.json`.", ""]
    return "\n".join(lines)


def _models_section(d: dict) -> list[str]:
    lines = ["## The noise models, compared on the given labels", "",
             "Each model of T was fitted by maximum likelihood of the given labels under the "
             "cross-fitted predictions (EM, the true class latent), then scored on labels it "
             "was not fitted on: the images were split in two, each half's labels predicted by "
             "the model fitted on the other half. A model's probability is its share of the "
             "held-out likelihood over Bayesian-bootstrap reweightings of the images "
             "(pseudo-BMA+), so models the labels cannot tell apart share it. The reported "
             "model is the simplest one not clearly worse (odds of 20 to 1) than the best.", "",
             "| model | kind | reading | parameters | log-likelihood | held-out vs best "
             "| probability |", "| --- | --- | --- | --- | --- | --- | --- |"]
    score = "heldout" if all(np.isfinite(m.get("heldout", np.nan)) for m in d["models"]) \
        else "log_evidence"
    best = max(m[score] for m in d["models"])
    for m in d["models"]:
        mark = " (reported)" if m["name"] == d["model"] else ""
        lines.append(f"| {m['name']}{mark} | {m['kind']} | {m['reading']} | {m['parameters']} | "
                     f"{m['loglik']:.1f} | {m[score] - best:.1f} | "
                     f"{m['probability']:.3f} |")
    iv = d.get("intervals")
    if iv:
        lines += ["", f"The probability that the kind is among {', '.join(d['candidates'])} is "
                  f"{iv['kind_probability']:.3f}; over Bayesian-bootstrap reweightings of the "
                  f"images its {100 * iv['level']:.0f}% interval is "
                  f"{iv['kind_probability_interval'][0]:.3f} to "
                  f"{iv['kind_probability_interval'][1]:.3f}, and under "
                  f"{100 * iv['selected_share']:.0f}% of them the reported kind keeps the most "
                  "probability."]
    return lines + [""]


_PRECISION = {"bf16": "bfloat16", "fp32": "float32"}


def _method_section(summary: dict) -> list[str]:
    lines = ["## How the predictions were made", "",
             f"Out-of-sample predictions of each image's *given* label come from "
             f"{summary['folds']}-fold cross-fitting of a small CNN ({summary['epochs_per_fold']} "
             f"epochs a fold in {_PRECISION.get(summary.get('precision'), 'float32')}, the first "
             "ones also fitting the class each training image's "
             "neighbours vote for): each image is predicted by a model that never saw its label. A "
             "short probe first compared two models of P(given | image) on held-out labels "
             "(mean NLL, nats; lower is better):", "",
             "| model of P(given \\| x) | held-out NLL |", "| --- | --- |"]
    lines += [f"| {f} | {v:.4f} |" for f, v in summary["probe_nll"].items()]
    lines += [f"| class prior only | {summary['prior_nll']:.4f} |", "",
              f"The **{summary['family']}** model fits the given labels better, so it was used. "
              "Its held-out predictions were stacked with two nearest-neighbour estimates, "
              "weighted to make the held-out labels most likely: weights (model, model "
              "neighbours, pixel neighbours) per fold "
              + "; ".join("(" + ", ".join(f"{v:.1f}" for v in w) + ")"
                          for w in summary["stack_weights"])
              + ". No clean label was read to make this estimate.", ""]
    return lines


def _matrix_section(summary: dict) -> list[str]:
    d, classes = summary["diagnosis"], summary["classes"]
    T = np.asarray(d["transition_matrix"])
    iv = d.get("intervals")
    lines = ["## Transition matrix", "",
             "`T[i, j] = P(given = j | true = i)`: rows are true classes, columns given labels "
             "(`transition.json`)" + (", each entry with its 95% bootstrap interval" if iv else "")
             + ".", "", "![transition](transition.png)", ""]
    if len(classes) <= 12:
        lo, hi = (np.asarray(iv["transition"][0]), np.asarray(iv["transition"][1])) if iv \
            else (None, None)
        lines += ["| true \\ given | " + " | ".join(classes) + " |",
                  "| --- " * (len(classes) + 1) + "|"]
        for i, c in enumerate(classes):
            cells = [f"{T[i, j]:.3f}" + (f" [{lo[i, j]:.3f}, {hi[i, j]:.3f}]" if iv else "")
                     for j in range(len(classes))]
            lines.append(f"| **{c}** | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _readings_section(summary: dict) -> list[str]:
    d, classes = summary["diagnosis"], summary["classes"]
    if d["decided"] or len(d["readings"]) < 2:
        return []
    lines = ["## The readings the labels cannot tell apart", ""]
    for r in d["readings"]:
        T = np.asarray(r["transition_matrix"])
        keep = np.asarray(r["keep_rate"])
        names = [classes[int(c)] for c in r["naming"]]
        lines += [f"### Read as {r['kind']} (probability {r['probability']:.2f})", "",
                  f"- noise rate {100 * r['noise_rate']:.1f}%, keep rate {keep.mean():.3f} "
                  f"(per class {keep.min():.3f}..{keep.max():.3f})",
                  f"- recommended loss: `{r['recommended_loss']}`",
                  "- the image clusters are the classes " + ", ".join(names), ""]
        if len(classes) <= 12:
            lines += ["| true \\ given | " + " | ".join(classes) + " |",
                      "| --- " * (len(classes) + 1) + "|"]
            lines += [f"| **{c}** | " + " | ".join(f"{v:.3f}" for v in T[i]) + " |"
                      for i, c in enumerate(classes)] + [""]
    return lines + [d["what_decides"], ""]


def _measured_section(m: dict) -> list[str]:
    if not m:
        return []
    lines = ["## Measured against trusted labels (not an input)", "",
             f"- mean absolute error of T: {m['mae']:.5f}",
             f"- largest keep-rate error: {m['keep_rate_error']:.5f} "
             f"(true mean keep rate {m['true_keep_rate']:.4f})",
             f"- suggested true labels correct: {100 * m['suggested_accuracy']:.2f}%"]
    if "interval_coverage" in m:
        lines.append(f"- entries of T inside their 95% interval: "
                     f"{100 * m['interval_coverage']:.1f}%")
    for kind, err in (m.get("readings") or {}).items():
        lines.append(f"- read as {kind}: mean absolute error of T {err['mae']:.5f}, suggested "
                     f"labels {100 * err['suggested_accuracy']:.2f}% right")
    return lines + [""]
