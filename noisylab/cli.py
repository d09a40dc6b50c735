"""The ``noisylab`` command line: parse, call the library, print. No logic lives here."""

from __future__ import annotations

import os
import sys
import threading
import warnings

import click

from noisylab import __version__, distributed
from noisylab.errors import NoisylabError
from noisylab.outputs import filesystem_error


class _Group(click.Group):
    """A click group that turns a ``NoisylabError``, or a filesystem that refuses a write (a
    permission, a full disk: `noisylab.outputs.filesystem_error`), into one line and exit
    code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NoisylabError as err:
            _error_line(err)
            sys.exit(2)
        except OSError as err:
            line = filesystem_error(err)
            if line is None:
                raise
            _error_line(line)
            sys.exit(2)
        except RuntimeError as err:  # under torchrun: a collective that lost the other ranks
            if not distributed.lost_contact(err):
                raise
            _error_line(err)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; files already written are kept", err=True)
            if threading.active_count() > 1:
                # Jobs still running in other threads (the audit's folds, `noisylab.parallel`)
                # cannot be stopped, and torch aborts when the interpreter shuts down under them.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(130)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="noisylab")
def cli() -> None:
    """Learn image classifiers from noisy labels, and find out how the labels are wrong first.

    \b
    Typical use:
      noisylab data list                      which data sources are here
      noisylab audit mnistTask3 --root DIR    what is wrong with these labels
      noisylab train --data mnistTask3 --loss auto
    """
    warnings.showwarning = _warning_line
    distributed.quiet_other_ranks()  # under torchrun rank 0 prints; the others only fail aloud
    distributed.check_command(click.get_current_context().invoked_subcommand)


def _error_line(err: Exception) -> None:
    line = distributed.error_line(err)  # None: another rank of the same job says it
    if line is not None:
        click.echo(f"error: {line}", err=True)


# --- data -------------------------------------------------------------------------------------

_ROOT = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Data root (default: $NOISYLAB_DATA, else ./datasets).",
)
_SPLIT = click.option(
    "--split", type=click.Choice(["train", "test"]), default="train", show_default=True
)
_PREPROCESS = click.option(
    "--preprocess",
    type=click.Choice(["fit", "keep-size"]),
    default=None,
    help="Photos (trainPart1, folder:): fit the ink to 20 px (default, as MNIST) or keep its size.",
)
_STRICT = click.option(
    "--strict", is_flag=True, help="An unreadable image is an error, not a skip."
)
_DOWNLOAD = click.option("--download", is_flag=True, help="mnist: download when missing (online).")


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"warning: {message}", err=True)


def _load(name, root, split, strict=False, download=False, preprocess=None):
    from noisylab.data import load

    options = {"preprocess": preprocess} if preprocess else {}
    return load(
        name,
        root=root,
        split=split,
        strict=strict,
        download=download,
        progress=_progress(),
        **options,
    )


def _progress() -> bool:
    """A progress bar on stderr when it is a terminal (not in logs or pipes)."""
    return sys.stderr.isatty() and distributed.is_writer()


@cli.group()
def data() -> None:
    """Data sources: which are here, what is in them, what they look like."""


@data.command("list")
@_ROOT
def data_list(root: str | None) -> None:
    """The known sources and whether each is here (and where)."""
    from noisylab.data import status
    from noisylab.data.registry import FOLDER_HELP

    rows = status(root)
    click.echo(f"data root: {rows[0]['root']} ({rows[0]['origin']})")
    for r in rows:
        if r["name"] == "digits":
            where = "bundled with scikit-learn"
        elif r["present"]:
            found = {}
            for split, path in r["where"].items():
                found.setdefault(str(path), []).append(split)
            where = "; ".join(f"{p} ({', '.join(s)})" for p, s in found.items())
            absent = [sp for sp in r["splits"] if sp not in r["where"]]
            if absent:
                where += f"; no {'/'.join(absent)} split here"
        else:
            where = f"missing: put {r['wants']} in {r['root']}"
        click.echo(f"  {r['name']:<18} {'yes' if r['present'] else 'no ':<4} {where}")
        click.echo(f"  {'':<18} {'':<4} {r['description']}")
    click.echo(f"  {FOLDER_HELP}")


@data.command("info")
@click.argument("name")
@_ROOT
@_SPLIT
@_PREPROCESS
@_STRICT
@_DOWNLOAD
def data_info(name, root, split, preprocess, strict, download) -> None:
    """Images, classes, counts per class, image size, source path and cache state of NAME."""
    d = _load(name, root, split, strict, download, preprocess)
    n, c, h, w = d.images.shape
    counts = d.class_counts()
    click.echo(f"name:       {name}")
    click.echo(f"source:     {d.source}")
    click.echo(f"path:       {d.path if d.path else '(bundled)'}")
    click.echo(f"split:      {d.meta.get('split', split)}")
    click.echo(
        f"images:     {n} x {c} x {h} x {w} {str(d.images.dtype).replace('torch.', '')}, "
        f"white ink on black, mean pixel {d.images.float().mean().item():.1f}"
    )
    click.echo(f"classes:    {len(d.classes)}: {' '.join(d.classes)}")
    items = [f"{k}:{v}" for k, v in counts.items()]
    for i in range(0, len(items), 10):
        click.echo(f"{'per class:' if i == 0 else '':<12}{'  '.join(items[i : i + 10])}")
    click.echo(f"            min {min(counts.values())}, max {max(counts.values())}")
    converted = d.meta.get("converted") or {}
    if converted:
        click.echo(f"converted:  {', '.join(f'{n} {kind}' for kind, n in converted.items())}")
    if d.meta.get("preprocess") and (not converted or any("photo" in k for k in converted)):
        ref = f", reference {d.meta['reference']:g}" if "reference" in d.meta else ""
        click.echo(f"preprocess: {d.meta['preprocess']}{ref}")
    skipped = d.meta.get("skipped") or []
    if skipped:
        click.echo(f"skipped:    {len(skipped)} unreadable file(s), first {skipped[0][0]}")
    cache = d.meta.get("cache", "")
    where = f" ({d.meta['cache_file']})" if d.meta.get("cache_file") else ""
    click.echo(f"cache:      {cache}{where}")


@data.command("show")
@click.argument("name")
@_ROOT
@_SPLIT
@_PREPROCESS
@_STRICT
@_DOWNLOAD
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--per-class", default=8, show_default=True, type=int, help="Samples per class.")
@click.option(
    "--before-after",
    is_flag=True,
    help="trainPart1: raw photo vs fit vs keep-size, for c/C o/O s/S x/X 1/l.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Which random samples.")
def data_show(name, root, split, preprocess, strict, download, out, per_class, before_after, seed):
    """Save a grid of samples per class of NAME (or a before/after figure) to --out."""
    from noisylab.data import figures

    figures.check_out(out)  # before any decoding
    if before_after:
        path = figures.photos_before_after(
            name,
            out,
            root=root,
            split=split,
            per_class=min(per_class, 4),
            seed=seed,
            progress=_progress(),
        )
    else:
        d = _load(name, root, split, strict, download, preprocess)
        path = figures.sample_grid(d, out, per_class=per_class, seed=seed)
    click.echo(f"wrote {path}")


# --- train / evaluate ---------------------------------------------------------------------------

_LOSS_HELP = ("ce; complementary: scl-nl scl-exp fwd ure-ga pc; noise-robust: forward gce; "
              "auto: what the audit recommends. Default: ce for trainPart1 and "
              "trainPart1-digits (clean labels), else auto.")


@cli.command("train")
@click.option("--data", "data_name", required=True, help="Source: mnist, mnistTask3, trainPart1, "
              "trainPart1-digits, digits, folder:PATH.")
@_ROOT
@click.option("--init", default="scratch", show_default=True,
              help="scratch, pretrained (the Part-1 model from runs/), or a checkpoint PATH.")
@click.option("--loss", default=None, help=_LOSS_HELP)
@click.option("--transition", type=click.Path(exists=True, dir_okay=False), default=None,
              help="transition.json from an audit, for --loss forward.")
@click.option("--val-transition", type=click.Path(exists=True, dir_okay=False), default=None,
              help="transition.json whose likelihood of the held-out given labels chooses the "
                   "best epoch (default with --loss auto: the audit's).")
@click.option("--arch", default=None, help="lenet, cnn-s, cnn-m, cnn-l (default: the recipe's).")
@click.option("--epochs", type=int, default=None, help="Default: the recipe's.")
@click.option("--batch-size", type=int, default=None, help="Default: the recipe's.")
@click.option("--lr", type=float, default=None, help="Peak learning rate (one-cycle).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto",
              show_default=True, help="Of the forward pass in training; auto: bfloat16 on a "
              "CUDA GPU that has it, else float32. bf16 is about 2x faster on CPUs with "
              "AVX512-BF16 or AMX, and measured up to 0.15 pp less accurate there.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default: runs/<data>[-pretrained][-<loss>]).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last epoch.")
@click.option("--freeze-features", is_flag=True, help="Train only the head.")
@click.option("--no-augment", is_flag=True, help="No random affine augmentation.")
@click.option("--pseudo-label", type=float, default=None,
              help="Weight of self-training on confident predictions (0: off; default: recipe's).")
@click.option("--pseudo-label-view", type=click.Choice(["augmented", "clean"]), default=None,
              help="Whose predictions the pseudo-labels are: the augmented batch's, or the "
                   "un-augmented images' (FixMatch-style; default: recipe's, else augmented).")
@click.option("--warm-start-epochs", type=click.IntRange(min=0), default=None,
              help="In the first N epochs also fit the class each image's pixel-space "
                   "neighbours vote for by their given labels, where the vote is clear "
                   "(0: off; default: the recipe's, else 0).")
@click.option("--distill-epochs", type=click.IntRange(min=0), default=None,
              help="Then relabel the training images with the model and train a fresh one on "
                   "those labels for N epochs (0: off; default: recipe's).")
@click.option("--distill-arch", default=None,
              help="Architecture of that fresh model (default: the recipe's, else --arch).")
@click.option("--distill-votes", type=click.IntRange(min=1), default=None,
              help="How many of the first phase's last epochs make those labels, their "
                   "probabilities averaged (default: the recipe's, else 1).")
@click.option("--distill-ensemble/--no-distill-ensemble", default=None,
              help="Make the run's model the teacher (the first phase's last epoch) and the "
                   "kept student together, their probabilities averaged (default: the "
                   "recipe's; on for mnistTask3).")
@_PREPROCESS
@click.option("--addon", "addons_on", multiple=True, metavar="NAME",
              help="Use the add-on NAME besides the recipe's (repeatable; `noisylab addons` "
                   "lists them): side inputs the model reads, or an adjuster fitted after "
                   "training and reported beside the plain figure.")
@click.option("--no-addon", "addons_off", multiple=True, metavar="NAME",
              help="Leave out the recipe's add-on NAME (repeatable).")
def train_cmd(data_name, root, init, loss, transition, val_transition, arch, epochs, batch_size,
              lr, seed, device, precision, out, resume, freeze_features, no_augment, pseudo_label,
              pseudo_label_view, warm_start_epochs, distill_epochs, distill_arch, distill_votes,
              distill_ensemble, preprocess, addons_on, addons_off):
    """Train a CNN on the given labels of --data; checkpoints and metrics.jsonl go to --out."""
    from noisylab.pipeline import run
    from noisylab.spec import resolve_spec
    from noisylab.train import check_resumable

    if resume and out is not None:
        check_resumable(out)  # before loading and auditing, which can take minutes
    spec = resolve_spec(
        data_name, root=root, init=init, loss=loss, progress=_progress(),
        log=click.echo, load_options={"preprocess": preprocess} if preprocess else None,
        addons_on=addons_on, addons_off=addons_off, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, device=device, precision=precision, freeze_features=freeze_features or None, augment=False if no_augment else None,
        pseudo_label=pseudo_label, pseudo_label_view=pseudo_label_view,
        warm_start_epochs=warm_start_epochs, distill_epochs=distill_epochs,
        distill_arch=distill_arch, distill_votes=distill_votes, distill_ensemble=distill_ensemble,
        transition=transition,
        val_transition=val_transition)
    result = run(spec, out=out, resume=resume, root=root, progress=_progress(), log=click.echo)
    best = result.best
    line = f"best epoch {result.best_epoch} (chosen on given labels)"
    if "test_acc" in best:
        line += f": test acc {100 * best['test_acc']:.2f}%, NLL {best['test_nll']:.4f}, " \
                f"ECE {best['test_ece']:.4f}"
    click.echo(line)
    if result.model:
        line = f"the run's model: {' and '.join(result.model)} together"
        if result.model_test:
            t = result.model_test
            line += (f": test acc {100 * t['acc']:.2f}%, NLL {t['nll']:.4f}, ECE {t['ece']:.4f}"
                     f" (noisylab evaluate {result.out_dir} scores it)")
        click.echo(line)
    for line in _adjusted_lines(result.adjusted_test or {}, "test acc"):
        click.echo(line)
    click.echo(f"run folder: {result.out_dir}")


def _adjusted_lines(adjusted: dict, what: str = "accuracy", files: dict | None = None
                    ) -> list[str]:
    """One line per prediction adjuster of an evaluation's ``adjusted`` figures, in order,
    each named (and its state's file, from ``files``)."""
    from noisylab.addons import get

    lines = []
    for name, t in adjusted.items():
        cls = get(name)
        where = f", {files[name]}" if files and name in files else ""
        head = f"  + {name} ({cls.title}{where}): "
        if not t["applied"]:
            lines.append(head + f"not applied: {t['why']}")
            continue
        said = cls.summary(t)
        lines.append(head + f"{what} {100 * t['acc']:.2f}%   NLL {t['nll']:.4f}   "
                     f"ECE {t['ece']:.4f}   ({t['changed']} predictions changed"
                     + (f"; {said})" if said else ")"))
    return lines


@cli.command("evaluate")
@click.argument("checkpoints", metavar="CHECKPOINT...", nargs=-1, required=True,
                type=click.Path())
@click.option("--data", "data_name", required=True, help="Source to evaluate on.")
@_ROOT
@_SPLIT
@_PREPROCESS
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for confusion.png and reliability.png (default: beside the checkpoint).")
@click.option("--tta", type=click.IntRange(min=1), default=1, show_default=True,
              help="Test-time augmentation: average the probabilities of N views of each image "
                   "(as given, then N-1 seeded random rotations, scalings and shifts).")
@click.option("--addon", "addons_on", multiple=True, metavar="NAME",
              help="Insist on the adjuster NAME: an error when the run saved no state of it "
                   "(repeatable). Without it, every adjuster whose state the run saved is "
                   "applied.")
@click.option("--no-addon", "addons_off", multiple=True, metavar="NAME",
              help="Leave the run's adjuster NAME out (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_cmd(checkpoints, data_name, root, split, preprocess, out, tta, addons_on,
                 addons_off, as_json):
    """Accuracy, NLL, ECE and per-class precision/recall/F1 of CHECKPOINT on labelled data.

    The model's own figures come first (each image alone); then, each on its own line and
    named, those with each prediction adjuster the run saved (its add-ons: `noisylab addons`),
    applied in turn.

    Several checkpoints (e.g. the run folders of three seeds) are scored as an ensemble: their
    class probabilities are averaged. A run folder whose model is several of its checkpoints
    (its model.json: a mnistTask3 run's teacher and student) means them all; RUN/best is the
    kept checkpoint alone.
    """
    import json

    from noisylab.api import evaluate_run
    from noisylab.outputs import check_output
    from noisylab.runs import evaluation_dir

    out = out or evaluation_dir(checkpoints[0], data_name, split, members=len(checkpoints))
    check_output(out, "evaluation", reuse=True)  # before the data is loaded
    r = evaluate_run(list(checkpoints), data_name, root=root, split=split, out_dir=out,
                     views=tta, addons=addons_on, no_addons=addons_off, progress=_progress(),
                     load_options={"preprocess": preprocess} if preprocess else None)
    if as_json:
        click.echo(json.dumps({k: v for k, v in r.items() if k != "confusion"}, indent=1))
        return
    what = (r["checkpoints"][0] if len(r["checkpoints"]) == 1 else
            f"ensemble of {len(r['checkpoints'])} ({', '.join(r['checkpoints'])})")
    click.echo(f"{what} on {data_name} {split} ({r['n']} images"
               + (f", {tta} views each" if tta > 1 else "") + ")")
    click.echo(f"accuracy {100 * r['acc']:.2f}%   NLL {r['nll']:.4f}   ECE {r['ece']:.4f}   "
               "(each image alone)")
    if "side_inputs" in r:
        from noisylab.addons import get

        side = r["side_inputs"]
        click.echo(f"  the model reads the side inputs of {side['addon']} "
                   f"({get(side['addon']).title}): known for {side['known']} of {r['n']} images")
    for line in _adjusted_lines(r["adjusted"], files=r["adjuster_files"]):
        click.echo(line)
    click.echo(f"{'class':>6} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, c in r["per_class"].items():
        click.echo(f"{name:>6} {c['precision']:9.3f} {c['recall']:7.3f} {c['f1']:6.3f} "
                   f"{int(c['support']):7d}")
    click.echo("figures: " + ", ".join(r["figures"]))


@cli.command("addons")
def addons_cmd() -> None:
    """The add-ons: knowledge about one kind of data that recipes, --addon and --no-addon name.

    \b
    side input: numbers per image that the model reads beside the pixels
    adjuster:   a change to the predictions, reported beside the plain figure
    """
    from noisylab.addons import is_side_input, registered
    from noisylab.recipes import RECIPES

    for name, cls in registered().items():
        used = [data for data, recipe in RECIPES.items() if name in recipe.addons]
        click.echo(f"{name:<14} {'side input' if is_side_input(name) else 'adjuster':<11} "
                   f"{cls.title}" + (f" (recipes: {', '.join(used)})" if used else ""))


# --- audit ---------------------------------------------------------------------------------------


@cli.command("audit")
@click.argument("dataset")
@_ROOT
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Report folder (default: runs/audit-<DATASET>).")
@click.option("--folds", type=int, default=2, show_default=True, help="Cross-fitting folds.")
@click.option("--epochs", type=int, default=None,
              help="Epochs per fold (default: 4, or enough for 40k image-passes a fold).")
@click.option("--reference", type=click.Path(), default=None,
              help="Checkpoint trained on clean data (e.g. the Part-1 digit model): needed to "
                   "tell a permutation of classes from clean labels.")
@click.option("--trusted", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Trusted labels (IDX file indexed by the number in each sample id, or "
                   "id,label CSV) to MEASURE the estimate afterwards; never an input to it.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--verify", type=click.IntRange(min=1), default=None,
              help="Also write the N images whose true classes would best decide between the "
                   "readings the labels leave open (verify.png, and verify.csv to fill in).")
@click.option("--verified", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A person's true classes of some images (CSV id,label, e.g. a filled-in "
                   "verify.csv): evidence that decides between the open readings. Use the "
                   "same --out to reuse the first audit's cross-fit.")
@click.option("--json", "as_json", is_flag=True, help="Print audit.json instead of the verdict.")
def audit_cmd(dataset, root, out, folds, epochs, reference, trusted, seed, verify, verified,
              as_json):
    """What is wrong with the labels of DATASET: numbers, words and pictures.

    \b
    Cross-fits a fast CNN on the given labels, fits a ladder of noise models (clean,
    permutation, symmetric, pair-flip, complementary, biased-complementary, asymmetric,
    unrelated) by likelihood, reports the simplest one the labels support with its probability,
    says which readings they cannot tell apart and what would, and writes report.md,
    transition.json/.png with bootstrap intervals, one image grid per given label,
    label_issues.csv and cleanlab's figures beside noisylab's. The cross-fit's predictions
    stay in the folder (predictions.npz): auditing the same images and labels there again,
    say with --verified, takes seconds.
    """
    import json
    from pathlib import Path

    from noisylab.audit import audit, verdict_lines
    from noisylab.runs import audit_dir

    out = Path(out) if out else audit_dir(dataset)
    r = audit(dataset, root=root, out_dir=out, folds=folds, epochs=epochs, reference=reference,
              trusted=trusted, seed=seed, verify=verify or 0, verified=verified,
              progress=_progress(), log=_log_unless(as_json))
    if r is None:  # another rank of this torchrun job wrote the report
        return
    summary = r.summary
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo("")
    for line in verdict_lines(summary):
        click.echo(line)
    m = r.measured
    if m:
        click.echo(f"measured with trusted labels: T mean abs error {m['mae']:.5f}, keep-rate "
                   f"error {m['keep_rate_error']:.5f}, suggested labels "
                   f"{100 * m['suggested_accuracy']:.2f}% right")
    click.echo(f"report: {out / 'report.md'}  ({r.seconds:.0f}s)")


@cli.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True,
              help="Folder for the demo's runs and report (replaced).")
@click.option("--epochs", type=int, default=40, show_default=True, help="Epochs a training run.")
def demo_cmd(out, epochs):
    """The whole story on bundled digits with complementary labels injected (a few minutes).

    \b
    Audits the noisy labels, pretrains on a small clean part, trains scratch vs pretrained
    with naive ce and the complementary loss scl-nl, and writes OUT/report.md. No network,
    no data files.
    """
    from noisylab.demo import demo

    if epochs < 1:
        raise click.BadParameter("must be at least 1", param_hint="--epochs")
    demo(out, epochs=epochs, progress=_progress(), log=lambda m: click.echo(m, err=True))


def _log_unless(quiet: bool):
    if quiet or not distributed.is_writer():  # under torchrun rank 0 speaks for all
        return lambda _msg: None
    return lambda msg: click.echo(msg, err=True)


# --- experiments ---------------------------------------------------------------------------------


@cli.command("run")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--profile", default=None,
              help="A [profiles.NAME] table of the file to apply: quick or full.")
@click.option("--seeds", type=int, default=None, help="Run seeds 0..N-1 (over the file's).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: runs/); the experiment goes to OUT/<name>[-<profile>].")
@_ROOT
@click.option("--dry-run", is_flag=True, help="List the cells and how far each got; run nothing.")
def run_cmd(experiment, profile, seeds, out, root, dry_run):
    """Run the experiment file EXPERIMENT (TOML): every cell, resuming, then report.md.

    \b
    A cell already finished is skipped and one interrupted part-way is resumed, so the same
    command continues after a crash. See experiments/README.md for the file format.
    """
    from noisylab.experiments import load_experiment, plan, run_experiment

    exp = load_experiment(experiment, profile=profile, seeds=seeds)
    if dry_run:
        for line in plan(exp, out=out):
            click.echo(line)
        return
    folder = run_experiment(exp, out=out, root=root, progress=_progress(), log=click.echo)
    click.echo(f"experiment folder: {folder}")


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
def compare_cmd(runs):
    """Finished runs side by side: RUNS are run folders or experiment folders (a row per cell).

    \b
    Columns: data, init, loss, epochs done/planned, best (chosen) epoch, test accuracy, NLL and
    ECE at the chosen epoch, test accuracy at the last epoch, seconds.
    """
    from noisylab.compare import compare

    click.echo(compare(runs))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="noisylab")


if __name__ == "__main__":
    main()
