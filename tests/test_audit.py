"""The audit on synthetic images: the probe's choice, the files, measuring, and bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from synthetic import blobs

from noisylab.audit import audit, read_trusted_labels
from noisylab.cli import cli
from noisylab.crossfit import choose_family, probe_family
from noisylab.data.base import LabeledImages
from noisylab.errors import NoisylabError
from noisylab.noise import corrupt, make_noise

K = 4


def relabel(data: LabeledImages, kind: str, **opts) -> LabeledImages:
    noisy, _ = corrupt(data.labels.numpy(), make_noise(kind, K, seed=1, **opts), seed=2)
    return LabeledImages(data.images, torch.from_numpy(noisy).long(), data.classes, data.ids,
                         f"blobs+{kind}")


@pytest.fixture(scope="module")
def clean_blobs() -> LabeledImages:
    return blobs(1200)


def test_probe_prefers_the_family_that_fits(clean_blobs):
    comp = relabel(clean_blobs, "complementary")
    assert probe_family(clean_blobs.images, clean_blobs.labels, K, progress=False).family == "free"
    assert probe_family(comp.images, comp.labels, K, progress=False).family == "complementary"


def test_the_constrained_family_is_kept_unless_the_free_one_is_clearly_better():
    rng = np.random.default_rng(0)
    base = rng.exponential(1.0, 400)
    assert choose_family({"free": base, "complementary": base + rng.normal(0, 0.1, 400)}) \
        == "complementary"
    assert choose_family({"free": base, "complementary": base + 0.1}) == "free"
    assert choose_family({"free": base + 0.1, "complementary": base}) == "complementary"


def test_audit_of_complementary_labels(tmp_path, clean_blobs):
    comp = relabel(clean_blobs, "complementary")
    r = audit(comp, out_dir=tmp_path, epochs=6, progress=False, log=lambda m: None)
    assert r.family == "complementary"
    assert r.diagnosis.kind == "complementary"
    assert np.mean(r.suggested == clean_blobs.labels.numpy()) > 0.95
    for name in ("report.md", "transition.json", "transition.png", "label_issues.csv",
                 "audit.json", "cleanlab_vs_noisylab.png", "cleanlab_transition.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    assert len(list((tmp_path / "grids").glob("given-*.png"))) == K
    saved = json.loads((tmp_path / "transition.json").read_text())
    assert np.allclose(np.sum(saved["matrix"], 1), 1)
    rows = (tmp_path / "label_issues.csv").read_text().splitlines()
    assert rows[0].startswith("id,given_label") and len(rows) == len(comp) + 1
    summary = json.loads((tmp_path / "audit.json").read_text())
    assert summary["diagnosis"]["recommended_loss"] != "ce"
    assert summary["measured_with_trusted_labels"] == {}  # nothing trusted was given
    from noisylab.train import fastest_precision

    trained_in = {"bf16": "bfloat16", "fp32": "float32"}[summary["precision"]]
    assert summary["precision"] == fastest_precision(torch.device("cpu"))
    assert f"epochs a fold in {trained_in}" in (tmp_path / "report.md").read_text()
    # Images passed in memory have no source name, so the verdict cannot say `--data NAME`.
    assert summary["data_is_source"] is False
    assert f"next: train with --loss {summary['diagnosis']['recommended_loss']}" in (
        tmp_path / "report.md").read_text()


def test_audit_of_clean_labels_measured_with_trusted_csv(tmp_path, clean_blobs):
    trusted = tmp_path / "trusted.csv"
    trusted.write_text("id,label\n" + "".join(
        f"{i},{clean_blobs.classes[c]}\n" for i, c in zip(clean_blobs.ids, clean_blobs.labels.tolist(), strict=True)))
    r = audit(clean_blobs, out_dir=tmp_path / "a", epochs=3, trusted=trusted, progress=False,
              log=lambda m: None)
    assert r.family == "free"
    assert r.diagnosis.kind == "clean" and not r.diagnosis.decided  # a permutation looks the same
    assert r.measured["mae"] < 0.02 and r.measured["suggested_accuracy"] > 0.98


def test_trusted_idx_labels_are_indexed_by_the_number_in_the_id(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    values = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    with gzip.open(path, "wb") as f:
        f.write((2049).to_bytes(4, "big") + len(values).to_bytes(4, "big") + values.tobytes())
    got = read_trusted_labels(path, ["image_000005.jpg", "image_000002.jpg"], list("0123456789"))
    assert got.tolist() == [9, 4]
    with pytest.raises(NoisylabError, match="do not index"):
        read_trusted_labels(path, ["image_000077.jpg"], list("0123456789"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"nonsense")
    with pytest.raises(NoisylabError, match="neither an IDX"):
        read_trusted_labels(junk, ["a"], ["a"])


def test_bad_folds_and_too_little_data(tmp_path, clean_blobs):
    with pytest.raises(NoisylabError, match="--folds"):
        audit(clean_blobs, out_dir=tmp_path, folds=1, progress=False)
    with pytest.raises(NoisylabError, match="at least"):
        audit(blobs(30), out_dir=tmp_path, progress=False)


def test_cli_unknown_dataset_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["audit", "no-such-data", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "unknown" in result.output.lower()
    assert "Traceback" not in result.output


def test_neighbour_frequency_never_counts_a_samples_own_label():
    from noisylab.neighbours import neighbour_label_frequency

    # Two tight clusters; within each, the given labels are all 0 except one sample's 1.
    feats = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5) + 0.01 * torch.randn(10, 2)
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
    freq = neighbour_label_frequency(feats, labels, 3, k=4, prior_count=0.0)
    assert np.allclose(freq.sum(1), 1)
    assert freq[4, 1] == 0 and freq[4, 0] == 1  # its own label 1 is not among its neighbours'
    assert freq[0, 1] == 0.25  # the others see that one 1 among their 4 neighbours


def test_stack_prefers_the_estimate_that_predicts_the_labels():
    from noisylab.crossfit import stack

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    good = np.full((500, 3), 0.1)
    good[np.arange(500), labels] = 0.8
    flat = np.full((500, 3), 1 / 3)
    weights, probs = stack([flat, good, flat], labels)
    assert weights[1] == max(weights) and weights[1] >= 0.9
    assert np.allclose(probs.sum(1), 1)


def test_verify_writes_images_to_label_and_verified_reads_them_back(tmp_path, clean_blobs):
    comp = relabel(clean_blobs, "biased_complementary")
    r = audit(comp, out_dir=tmp_path / "a", epochs=4, verify=6, progress=False,
              log=lambda m: None)
    rows = (tmp_path / "a" / "verify.csv").read_text().splitlines()
    assert rows[0] == "id,given_label,label" and len(rows) == 7
    assert (tmp_path / "a" / "verify.png").stat().st_size > 100
    truth = dict(zip(clean_blobs.ids, clean_blobs.labels.tolist(), strict=True))
    filled = tmp_path / "filled.csv"  # a person fills in the true classes
    filled.write_text("id,given_label,label\n" + "".join(
        f"{line.split(',')[0]},{line.split(',')[1]},{comp.classes[truth[line.split(',')[0]]]}\n"
        for line in rows[1:]))
    said = []  # audited again in the same folder: the cross-fit's predictions are reused
    again = audit(comp, out_dir=tmp_path / "a", epochs=4, verified=filled, progress=False,
                  log=said.append)
    assert any("reusing" in line for line in said) and not any("probe" in line for line in said)
    d = again.diagnosis
    assert d.verified["n"] == 6 and d.decided
    assert d.kind in ("complementary", "biased-complementary"), d.summary
    assert np.mean(again.suggested == clean_blobs.labels.numpy()) > 0.9
    assert r.diagnosis.kind in ("complementary", "biased-complementary", "asymmetric")
    # The first audit's estimator weighs the same answers without cross-fitting again
    from noisylab.audit import read_verified

    in_python = r.estimator.apply_verified(*read_verified(filled, comp.ids, comp.classes))
    assert in_python.diagnosis_.kind == d.kind and in_python.diagnosis_.verified["n"] == 6
    assert np.isclose(in_python.diagnosis_.confidence, d.confidence)


def test_predictions_are_reused_only_for_the_same_images_labels_and_settings(tmp_path):
    from noisylab.audit_cache import FILE, fingerprint, load_predictions, save_predictions
    from noisylab.crossfit import CrossFit, ProbeResult

    data = blobs(60)
    key = fingerprint(data, folds=2, epochs=3, seed=0)
    probs = np.random.default_rng(0).dirichlet(np.ones(K), 60)
    probe = ProbeResult(nll={"free": 0.5, "complementary": 1.2}, prior_nll=1.38, family="free")
    save_predictions(tmp_path, key, probe, CrossFit(probs=probs, weights=[(0.7, 0.3, 0.0)] * 2))
    back_probe, back = load_predictions(tmp_path, key, 60, K)
    assert back_probe == probe and np.array_equal(back.probs, probs)
    assert back.weights == [(0.7, 0.3, 0.0)] * 2
    one_label = data.labels.clone()
    one_label[7] = (one_label[7] + 1) % K
    one_pixel = data.images.clone()
    one_pixel[3, 0, 5, 5] ^= 1
    others = [fingerprint(data, folds=2, epochs=3, seed=1),
              fingerprint(data, folds=2, epochs=3, seed=0, precision="bf16"),
              fingerprint(data, folds=2, epochs=3, seed=0, model="tiny"),
              fingerprint(data, folds=3, epochs=3, seed=0),
              fingerprint(data, folds=2, epochs=4, seed=0),
              fingerprint(relabel_with(data, one_label), folds=2, epochs=3, seed=0),
              fingerprint(LabeledImages(one_pixel, data.labels, data.classes, data.ids,
                                        data.source), folds=2, epochs=3, seed=0),
              fingerprint(LabeledImages(data.images, data.labels, data.classes,
                                        data.ids[::-1], data.source), folds=2, epochs=3, seed=0)]
    assert len(set(others + [key])) == len(others) + 1
    assert load_predictions(tmp_path, others[0], 60, K) is None  # made from other settings
    assert load_predictions(tmp_path, key, 61, K) is None  # not this many images
    raw = (tmp_path / FILE).read_bytes()
    (tmp_path / FILE).write_bytes(raw[: len(raw) // 2])  # cut short: predict again, no error
    assert load_predictions(tmp_path, key, 60, K) is None
    assert load_predictions(tmp_path / "nowhere", key, 60, K) is None


def relabel_with(data: LabeledImages, labels: torch.Tensor) -> LabeledImages:
    return LabeledImages(data.images, labels, data.classes, data.ids, data.source)


def test_verified_file_errors_are_one_line(tmp_path):
    from noisylab.audit import read_verified

    ids, classes = ["a.png", "b.png"], ["x", "y"]
    bad = tmp_path / "v.csv"
    for text, match in [("id,label\nc.png,x\n", "not an image"),
                        ("id,label\na.png,z\n", "not one of"),
                        ("id,label\na.png,\n", "no labelled row"),
                        ("name,label\na.png,x\n", "id,label")]:
        bad.write_text(text)
        with pytest.raises(NoisylabError, match=match):
            read_verified(bad, ids, classes)
    bad.write_text("id,given_label,label\na.png,y,x\nb.png,x,1\n")
    index, labels = read_verified(bad, ids, classes)
    assert index.tolist() == [0, 1] and labels.tolist() == [0, 1]


def test_next_line_gives_a_forward_loss_the_audits_matrix(tmp_path):
    from noisylab.audit_report import _next_line

    summary = {"data": "mnistTask3", "data_is_source": True, "folder": str(tmp_path)}
    for loss in ("forward", "fwd"):
        line = _next_line(summary, {"recommended_loss": loss, "kind": "asymmetric"})
        assert line == (f"next: noisylab train --data mnistTask3 --loss {loss} "
                        f"--transition {tmp_path / 'transition.json'}")
    line = _next_line(summary, {"recommended_loss": "scl-nl", "kind": "complementary"})
    assert line == "next: noisylab train --data mnistTask3 --loss scl-nl"
