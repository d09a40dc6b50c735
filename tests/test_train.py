"""The training loop on tiny synthetic images: learning, checkpoints, determinism, resume, errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from synthetic import blobs

from noisylab.checkpoints import list_checkpoints, load_checkpoint
from noisylab.data.base import LabeledImages
from noisylab.errors import NoisylabError
from noisylab.evaluate import evaluate
from noisylab.models import build_model, transfer_weights
from noisylab.train import TrainConfig, stratified_split, train

K = 4


def complementary(data: LabeledImages, seed: int) -> LabeledImages:
    """The same images labelled with a uniformly drawn class each image is *not*."""
    # A stream of its own: drawn from the images' seed, the shift would depend on the class.
    rng = np.random.default_rng([seed, 12345])
    shift = torch.from_numpy(rng.integers(1, K, len(data)))
    return LabeledImages(data.images, (data.labels + shift) % K, data.classes, data.ids, "comp")


FAST = dict(arch="lenet", epochs=3, batch_size=32, lr=5e-3, augment=False, device="cpu")


def quiet(_msg: str) -> None:
    pass


def test_learns_and_writes_checkpoints_and_metrics(tmp_path):
    result = train(blobs(400, seed=0), TrainConfig(**FAST), out_dir=tmp_path / "run",
                   test_set=blobs(200, seed=1), progress=False, log=quiet)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    assert result.history[-1]["test_acc"] > 0.95
    listing = list_checkpoints(tmp_path / "run")
    assert sorted(listing.epochs) == [1, 2, 3] and listing.best and listing.last
    best = load_checkpoint(tmp_path / "run" / "best")
    assert best.metadata["epoch"] == result.best_epoch
    assert best.metadata["class_names"] == list("abcd")


def test_same_seed_same_metrics_on_cpu(tmp_path):
    cfg = dict(FAST, augment=True, epochs=2)
    a = train(blobs(300, seed=0), TrainConfig(**cfg), out_dir=tmp_path / "a", progress=False, log=quiet)
    b = train(blobs(300, seed=0), TrainConfig(**cfg), out_dir=tmp_path / "b", progress=False, log=quiet)
    c = train(blobs(300, seed=0), TrainConfig(**dict(cfg, seed=1)), out_dir=tmp_path / "c",
              progress=False, log=quiet)
    strip = [{k: v for k, v in m.items() if k not in ("seconds", "images_per_second")}
             for m in a.history]
    assert strip == [{k: v for k, v in m.items() if k not in ("seconds", "images_per_second")}
                     for m in b.history]
    assert a.history[-1]["train_loss"] != c.history[-1]["train_loss"]


class Crash(Exception):
    pass


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    cfg = TrainConfig(**dict(FAST, augment=True, epochs=4))
    data = blobs(300, seed=0)
    full = train(data, cfg, out_dir=tmp_path / "full", progress=False, log=quiet)

    def crash_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch   2/"):
            raise Crash
    with pytest.raises(Crash):
        train(data, cfg, out_dir=tmp_path / "cut", progress=False, log=crash_after_epoch_2)
    # A crash mid-epoch 3 may have left a metrics line past `last`; resume must drop it.
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 3, "train_loss": -1.0}) + "\n")
    resumed = train(data, cfg, out_dir=tmp_path / "cut", resume=True, progress=False, log=quiet)

    drop = ("seconds", "images_per_second")
    assert [{k: v for k, v in m.items() if k not in drop} for m in resumed.history] == \
           [{k: v for k, v in m.items() if k not in drop} for m in full.history]
    a = load_checkpoint(tmp_path / "full" / "last").state_dict
    b = load_checkpoint(tmp_path / "cut" / "last").state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_needs_resume(tmp_path):
    train(blobs(100, seed=0), TrainConfig(**dict(FAST, epochs=1)), out_dir=tmp_path / "r",
          progress=False, log=quiet)
    with pytest.raises(NoisylabError, match="--resume"):
        train(blobs(100, seed=0), TrainConfig(**dict(FAST, epochs=1)), out_dir=tmp_path / "r",
              progress=False, log=quiet)


def test_resume_without_run_is_a_clear_error(tmp_path):
    with pytest.raises(NoisylabError, match="nothing to resume"):
        train(blobs(100, seed=0), TrainConfig(**FAST), out_dir=tmp_path / "none", resume=True,
              progress=False, log=quiet)


def test_complementary_labels_train_the_true_classes(tmp_path):
    clean = blobs(800, seed=0)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=6))
    result = train(complementary(clean, seed=0), cfg, out_dir=tmp_path / "c",
                   test_set=blobs(300, seed=1), progress=False, log=quiet)
    naive = train(complementary(clean, seed=0), TrainConfig(**dict(FAST, epochs=6)),
                  out_dir=tmp_path / "n", test_set=blobs(300, seed=1), progress=False, log=quiet)
    assert result.best["test_acc"] > 0.9
    assert naive.best["test_acc"] < 0.3  # ce learns to predict a class the image is not


def test_pseudo_labels_from_the_clean_view_learn_deterministically(tmp_path):
    clean = blobs(600, seed=0)
    cfg = dict(FAST, loss="scl-nl", epochs=4, augment=True, pseudo_label=1.0)
    runs = [train(complementary(clean, seed=0), TrainConfig(**dict(cfg, pseudo_label_view=view)),
                  out_dir=tmp_path / name, test_set=blobs(300, seed=1), progress=False, log=quiet)
            for name, view in (("a", "clean"), ("b", "clean"), ("c", "augmented"))]
    losses = [[m["train_loss"] for m in r.history] for r in runs]
    assert losses[0] == losses[1]  # same seed, same run
    assert losses[0] != losses[2]  # the targets really come from another view
    assert runs[0].best["test_acc"] > 0.9
    saved = load_checkpoint(tmp_path / "a" / "last").metadata["config"]
    assert saved["pseudo_label_view"] == "clean"


def test_allowed_argmax_never_picks_the_complementary_label():
    from noisylab.losses import allowed_probabilities

    def allowed_argmax(logits, given, kind):
        return allowed_probabilities(logits, given, kind).argmax(1)

    logits = torch.tensor([[3.0, 2.0, 0.0], [0.0, 1.0, 5.0]])
    given = torch.tensor([0, 1])
    assert allowed_argmax(logits, given, "complementary").tolist() == [1, 2]
    assert allowed_argmax(logits, given, "ordinary").tolist() == [0, 2]


def test_distillation_relabels_then_trains_a_fresh_model_and_resumes_inside_it(tmp_path):
    clean = blobs(800, seed=0)
    data = complementary(clean, seed=0)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=4, distill_epochs=2))
    log = []
    full = train(data, cfg, out_dir=tmp_path / "full", test_set=blobs(300, seed=1),
                 progress=False, log=log.append)
    assert [m["phase"] for m in full.history] == [1, 1, 1, 1, 2, 2]
    assert any(msg.startswith("distillation: ") for msg in log)
    # The student is fitted to the teacher's labels: it ends close to them, and still right.
    assert full.history[-1]["test_acc"] > 0.9
    assert "val_complementary-nll" in full.history[-1]  # chosen on the given labels throughout

    _assert_crash_in_phase_2_resumes_alike(data, cfg, full, tmp_path / "cut", blobs(300, seed=1))


def _assert_crash_in_phase_2_resumes_alike(data, cfg, full, out, test_set) -> None:
    """A run stopped at the start of epoch 5 (phase 2), then resumed, matches ``full``."""
    def crash_in_phase_2(msg: str) -> None:
        if msg.startswith("epoch   5/"):
            raise Crash
    with pytest.raises(Crash):
        train(data, cfg, out_dir=out, test_set=test_set, progress=False, log=crash_in_phase_2)
    resumed = train(data, cfg, out_dir=out, test_set=test_set, resume=True, progress=False,
                    log=quiet)
    drop = ("seconds", "images_per_second")
    assert [{k: v for k, v in m.items() if k not in drop} for m in resumed.history] == \
           [{k: v for k, v in m.items() if k not in drop} for m in full.history]


def test_distillation_votes_average_the_last_epochs_and_resume_alike(tmp_path, monkeypatch):
    import noisylab.train as train_module
    from noisylab.losses import allowed_probabilities
    from noisylab.models import load_model
    from noisylab.train import predict_logits

    data = complementary(blobs(600, seed=0), seed=0)
    # Some images with no square at all, so that the epochs disagree about them.
    blank = torch.randint(0, 40, (150, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    data.images[:150] = blank.to(torch.uint8)
    seen = []  # the labels each epoch trains on
    real_epoch = train_module.train_one_epoch

    def spy(model, loss_fn, optimizer, schedule, images, labels, **kw):
        seen.append(labels.clone())
        return real_epoch(model, loss_fn, optimizer, schedule, images, labels, **kw)
    monkeypatch.setattr(train_module, "train_one_epoch", spy)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=4, distill_epochs=2, distill_votes=3))
    log = []
    full = train(data, cfg, out_dir=tmp_path / "full", test_set=blobs(200, seed=1),
                 progress=False, log=log.append)
    assert any("relabelled by the epoch 2-4 models" in msg for msg in log)
    # Phase 2's labels: the argmax of epochs 2-4's allowed-class probabilities, averaged.
    fit, _ = stratified_split(data.labels.numpy(), cfg.val_fraction, cfg.seed)
    x, y = data.images[fit], data.labels[fit]
    votes = [allowed_probabilities(predict_logits(load_model(tmp_path / "full" /
                                                             f"epoch-{e:03d}")[0], x), y,
                                   "complementary") for e in (2, 3, 4)]
    expected = (sum(votes) / 3).argmax(1)
    assert torch.equal(seen[4], expected) and torch.equal(seen[5], expected)
    assert not torch.equal(expected, votes[-1].argmax(1))  # the vote is not the last epoch's
    assert (expected != y).all()  # never the class a complementary label rules out

    _assert_crash_in_phase_2_resumes_alike(data, cfg, full, tmp_path / "cut", blobs(200, seed=1))


def test_resume_in_phase_2_checks_last_before_relabelling(tmp_path, monkeypatch):
    import noisylab.train as train_module

    data = complementary(blobs(300, seed=0), seed=0)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=2, distill_epochs=2))

    def crash_in_phase_2(msg: str) -> None:
        if msg.startswith("epoch   3/"):
            raise Crash
    with pytest.raises(Crash):
        train(data, cfg, out_dir=tmp_path / "run", progress=False, log=crash_in_phase_2)
    weights = tmp_path / "run" / "last.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])

    def no_relabelling(*args, **kwargs):
        raise AssertionError("phase 2 was rebuilt before 'last' was read")
    monkeypatch.setattr(train_module, "_start_distillation", no_relabelling)
    with pytest.raises(NoisylabError, match="last"):
        train(data, cfg, out_dir=tmp_path / "run", resume=True, progress=False, log=quiet)


def test_distill_votes_must_be_between_one_and_the_epochs():
    for votes in (0, 4):
        with pytest.raises(NoisylabError, match="--distill-votes must be between 1 and --epochs"):
            TrainConfig(**dict(FAST, epochs=3, distill_epochs=2, distill_votes=votes))
    assert TrainConfig(**dict(FAST, epochs=3, distill_epochs=2, distill_votes=3)).distill_votes == 3
    # Without phase 2 the votes are unused, so a recipe's 3 do not stop a 2-epoch run.
    assert TrainConfig(**dict(FAST, epochs=2, distill_epochs=0, distill_votes=3)).epochs == 2
    with pytest.raises(NoisylabError, match="--distill-votes must be between 1"):
        TrainConfig(**dict(FAST, epochs=2, distill_epochs=0, distill_votes=0))


def test_distillation_into_another_architecture_records_it_and_resumes(tmp_path):
    data = complementary(blobs(600, seed=0), seed=0)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=2, distill_epochs=2, distill_arch="cnn-s"))
    start = build_model("lenet", K).state_dict()  # e.g. pretrained weights of the teacher's kind
    log = []
    full = train(data, cfg, out_dir=tmp_path / "full", test_set=blobs(200, seed=1),
                 init_state=start, progress=False, log=log.append)
    archs = [load_checkpoint(tmp_path / "full" / f"epoch-{e:03d}").metadata["architecture"]
             for e in (1, 2, 3, 4)]
    assert archs == ["lenet", "lenet", "cnn-s", "cnn-s"]
    assert any("the cnn-s student starts from random weights" in msg for msg in log)
    # The recorded architecture is the one the weights load into.
    report = evaluate(tmp_path / "full" / "last", blobs(200, seed=1))
    assert report["acc"] == pytest.approx(full.history[-1]["test_acc"])

    def crash_in_phase_2(msg: str) -> None:
        if msg.startswith("epoch   4/"):
            raise Crash
    with pytest.raises(Crash):
        train(data, cfg, out_dir=tmp_path / "cut", test_set=blobs(200, seed=1),
              init_state=start, progress=False,
              log=crash_in_phase_2)
    resumed = train(data, cfg, out_dir=tmp_path / "cut", test_set=blobs(200, seed=1),
                    init_state=start, resume=True,
                    progress=False, log=quiet)
    drop = ("seconds", "images_per_second")
    assert [{k: v for k, v in m.items() if k not in drop} for m in resumed.history] == \
           [{k: v for k, v in m.items() if k not in drop} for m in full.history]


def test_an_unknown_student_architecture_fails_before_training():
    with pytest.raises(NoisylabError, match="unknown architecture 'resnet' \\(--distill-arch\\)"):
        TrainConfig(**dict(FAST, distill_epochs=2, distill_arch="resnet"))
    with pytest.raises(NoisylabError, match="--freeze-features"):
        TrainConfig(**dict(FAST, distill_epochs=2, distill_arch="cnn-s", freeze_features=True))
    TrainConfig(**dict(FAST, distill_epochs=2, distill_arch="lenet", freeze_features=True))


def test_nan_loss_stops_with_a_clear_error_and_keeps_checkpoints(tmp_path, monkeypatch):
    import noisylab.losses as losses

    calls = {"n": 0}
    original = losses.CrossEntropy._loss

    def poisoned(self, logits, labels):
        calls["n"] += 1
        out = original(self, logits, labels)
        return out * float("nan") if calls["n"] > 15 else out
    monkeypatch.setattr(losses.CrossEntropy, "_loss", poisoned)
    with pytest.raises(NoisylabError, match="lower --lr"):
        train(blobs(400, seed=0), TrainConfig(**FAST), out_dir=tmp_path / "r", progress=False,
              log=quiet)
    assert load_checkpoint(tmp_path / "r" / "last").metadata["epoch"] == 1


def test_freeze_features_trains_only_the_head(tmp_path):
    start = build_model("lenet", K).state_dict()
    cfg = TrainConfig(**dict(FAST, epochs=1, freeze_features=True))
    train(blobs(200, seed=0), cfg, out_dir=tmp_path / "f", init_state=start, progress=False, log=quiet)
    after = load_checkpoint(tmp_path / "f" / "last").state_dict
    conv = "features.0.weight"
    assert torch.equal(after[conv], start[conv])
    assert not torch.equal(after["head.weight"], start["head.weight"])


def test_transfer_keeps_backbone_and_reinitialises_a_head_of_another_size():
    source = build_model("cnn-s", 62).state_dict()
    model = build_model("cnn-s", 10)
    report = transfer_weights(model, source)
    assert not report.head_kept and set(report.reinitialised) == {"head.weight", "head.bias"}
    assert torch.equal(model.state_dict()["features.0.weight"], source["features.0.weight"])
    same = build_model("cnn-s", 10)
    assert transfer_weights(same, model.state_dict()).head_kept
    with pytest.raises(NoisylabError, match="same architecture"):
        transfer_weights(build_model("lenet", 10), source)


def test_stratified_split_holds_out_each_label():
    labels = np.repeat(np.arange(5), 40)
    fit, val = stratified_split(labels, 0.1, seed=0)
    assert len(set(fit.tolist()) & set(val.tolist())) == 0 and len(fit) + len(val) == 200
    assert np.bincount(labels[val.numpy()]).tolist() == [4] * 5
    # A label with few images still gives one (0.1 of 4 rounds to 0); a lone image stays in fit.
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    fit, val = stratified_split(labels, 0.1, seed=0)
    assert np.bincount(labels[val.numpy()], minlength=3).tolist() == [1, 1, 0]
    assert labels[fit.numpy()].tolist() == [0, 0, 0, 1, 2]


def test_evaluate_writes_figures_and_per_class_scores(tmp_path):
    train(blobs(400, seed=0), TrainConfig(**FAST), out_dir=tmp_path / "r", progress=False, log=quiet)
    result = evaluate(tmp_path / "r", blobs(200, seed=2), out_dir=tmp_path / "eval")
    assert result["acc"] > 0.95 and set(result["per_class"]) == set("abcd")
    assert np.asarray(result["confusion"]).sum() == 200
    assert all((tmp_path / "eval" / f).stat().st_size > 1000 for f in ("confusion.png", "reliability.png"))


def test_evaluate_several_checkpoints_averages_their_probabilities(tmp_path):
    from noisylab import metrics
    from noisylab.models import load_model
    from noisylab.train import predict_logits

    data, test = blobs(400, seed=0), blobs(200, seed=2)
    test.images[:60] = torch.randint(0, 40, (60, 1, 28, 28), dtype=torch.uint8,
                                     generator=torch.Generator().manual_seed(1))  # ambiguous
    runs = []
    for seed in (0, 1):
        runs.append(tmp_path / f"s{seed}")
        train(data, TrainConfig(**dict(FAST, epochs=1, seed=seed)), out_dir=runs[-1],
              progress=False, log=quiet)
    mean = sum(predict_logits(load_model(r)[0], test.images).softmax(1).numpy() for r in runs) / 2
    both = evaluate(runs, test)
    expected = metrics.summary(mean, test.labels.numpy())
    assert both["acc"] == pytest.approx(expected["acc"]) and both["nll"] == pytest.approx(
        expected["nll"])
    assert len(both["checkpoints"]) == 2
    singles = [evaluate(r, test)["nll"] for r in runs]
    assert both["nll"] not in singles  # neither member alone
    assert evaluate([runs[0]], test)["nll"] == pytest.approx(singles[0])

    other = dataclasses.replace(test, classes=("p", "q", "r", "s"))
    with pytest.raises(NoisylabError, match="same classes"):
        evaluate(runs, other)
    with pytest.raises(NoisylabError, match="at least one"):
        evaluate([], test)


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(batch_size=0),
                                 dict(pseudo_label_view="weak")])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(NoisylabError):
        TrainConfig(**dict(FAST, **bad))


@pytest.mark.parametrize("epochs", [1, 2])
def test_a_schedule_too_short_for_a_cycle_keeps_the_peak_rate(tmp_path, epochs):
    # 100 images, 10% validation, batch 32: 2 steps an epoch; torch's OneCycleLR fails at 4.
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, augment=False)
    result = train(blobs(100), cfg, out_dir=tmp_path / "run", progress=False, log=quiet)
    assert [r["lr"] for r in result.history] == [2e-3] * epochs


def test_val_transition_chooses_the_epoch_by_forward_nll_and_still_records_the_loss_criterion(
        tmp_path):
    from noisylab.losses import make_loss
    from noisylab.models import load_model
    from noisylab.train import predict_logits

    data = complementary(blobs(600, seed=0), seed=0)
    keep = 0.02  # the share of given labels that are the true class, as an audit would measure
    t = np.full((K, K), (1 - keep) / (K - 1))
    np.fill_diagonal(t, keep)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", epochs=4, val_transition=t.tolist()))
    result = train(data, cfg, out_dir=tmp_path / "r", progress=False, log=quiet)

    first = result.history[0]
    assert [k for k in first if k.startswith("val_")][:2] == ["val_forward-nll", "val_mode"]
    assert "val_complementary-nll" in first and first["val_mode"] == "min"
    # The recorded value is the forward NLL of the held-out given labels under T, epoch by epoch.
    _, val = stratified_split(data.labels.numpy(), cfg.val_fraction, cfg.seed)
    selector = make_loss("forward", num_classes=K, transition=t)
    for m in result.history:
        model, _ = load_model(tmp_path / "r" / f"epoch-{m['epoch']:03d}")
        score = selector.validation_score(predict_logits(model, data.images[val]), data.labels[val])
        assert score.value == pytest.approx(m["val_forward-nll"], rel=1e-5)
    # `best` is the latest epoch within one standard error of the best value so far.
    best, kept = None, None
    for m in result.history:
        if best is None or m["val_forward-nll"] < best[0]:
            best = (m["val_forward-nll"], m["val_se"])
        if m["val_forward-nll"] <= best[0] + best[1]:
            kept = m["epoch"]
    assert result.best_epoch == kept and all(m["val_se"] >= 0 for m in result.history)


def test_the_teacher_joins_the_model_only_when_a_student_was_kept(tmp_path):
    from noisylab.train import _run_model_members

    cfg = TrainConfig(**dict(FAST, epochs=3, distill_epochs=2, distill_ensemble=True))
    assert _run_model_members(cfg, 5, tmp_path) == ["epoch-003", "best"]
    assert json.loads((tmp_path / "model.json").read_text())["members"] == ["epoch-003", "best"]
    # A resumed run that ends keeping a teacher epoch drops the earlier record: `best` alone.
    assert _run_model_members(cfg, 3, tmp_path) is None
    assert not (tmp_path / "model.json").exists()
    off = TrainConfig(**dict(FAST, epochs=3, distill_epochs=2))
    assert _run_model_members(off, 5, tmp_path) is None and not (tmp_path / "model.json").exists()


def test_augmentation_out_of_range_is_refused():
    for bad in (dict(shear=-0.1), dict(shear=1.5), dict(stretch=1.0), dict(stretch=-0.2),
                dict(stroke_width=1.2), dict(elastic=-1.0)):
        (name, value), = bad.items()
        with pytest.raises(NoisylabError, match=f"^{name} must be between .*, got {value}$"):
            TrainConfig(**dict(FAST, **bad))
    assert TrainConfig(**dict(FAST, shear=0.3, stretch=0.2)).shear == 0.3
