"""Checkpoints: round trips, hash verification, atomic saves, weights_only state, RNG."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import noisylab
from noisylab import checkpoints as ck
from noisylab.checkpoints import (
    capture_rng_state,
    check_compatible,
    copy_checkpoint,
    epoch_stem,
    list_checkpoints,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from noisylab.errors import NoisylabError


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(2 * 4 * 4, 3),
    )  # fmt: skip


def meta(epoch: int = 1, architecture: str = "cnn-s", **extra) -> dict:
    return {
        "architecture": architecture,
        "num_classes": 3,
        "class_names": ["a", "b", "c"],
        "config": {"lr": 0.01, "loss": "ce", "nested": {"k": [1, 2]}},
        "metrics": {"val_loss": 0.5, "noisy_val_acc": 0.75},
        "epoch": epoch,
        **extra,
    }


def make_training(model: nn.Module):
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20)
    return opt, sched


def train_steps(model, opt, sched, n: int) -> None:
    """Steps that consume torch, numpy and Python randomness, as augmentation would."""
    model.train()
    for _ in range(n):
        x = torch.rand(4, 1, 6, 6) + float(np.random.rand()) * 0.1
        y = torch.tensor([random.randrange(3) for _ in range(4)])
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def assert_state_dicts_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


def files_in(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def rehash(json_path: Path, key: str, file: Path) -> None:
    """Record ``file``'s current hash in the JSON, as an attacker who edits both would."""
    import hashlib

    m = json.loads(json_path.read_text())
    data = file.read_bytes()
    m["files"][key] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    json_path.write_text(json.dumps(m))


# ----------------------------------------------------------------------------- round trips


def test_weights_and_metadata_round_trip(tmp_path):
    model = tiny_model()
    model(torch.rand(2, 1, 6, 6))  # move BatchNorm running stats off their defaults
    out = save_checkpoint(tmp_path, "epoch-001", model, metadata=meta())
    assert out == tmp_path / "epoch-001.json"
    assert files_in(tmp_path) == ["epoch-001.json", "epoch-001.safetensors"]

    c = load_checkpoint(out)
    assert_state_dicts_equal(c.state_dict, model.state_dict())
    assert c.train_state is None and c.path == out and c.stem == "epoch-001"
    for k, v in meta().items():
        assert c.metadata[k] == v
    assert c.metadata["noisylab_version"] == noisylab.__version__
    assert c.metadata["created"].endswith("+00:00")
    assert len(c.metadata["files"]["weights"]["sha256"]) == 64
    assert c.metadata["files"]["state"] is None
    fresh = tiny_model(seed=1)
    fresh.load_state_dict(c.state_dict)
    assert_state_dicts_equal(fresh.state_dict(), model.state_dict())


def test_every_way_of_naming_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path, "last", tiny_model(1), metadata=meta(epoch=2))
    for p in ("last", "last.json", "last.safetensors", "last.state.pt"):
        assert load_checkpoint(tmp_path / p).metadata["epoch"] == 2
    assert load_checkpoint(str(tmp_path / "last")).stem == "last"
    # A run folder means its best when it has one, else its last.
    assert load_checkpoint(tmp_path).stem == "last"
    save_checkpoint(tmp_path, "best", tiny_model(2), metadata=meta(epoch=1))
    assert load_checkpoint(tmp_path).stem == "best"


def test_train_state_round_trips_with_weights_only(tmp_path, monkeypatch):
    model = tiny_model()
    opt, sched = make_training(model)
    train_steps(model, opt, sched, 3)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.randn(3)  # and (odd count) in numpy's
    state = {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epoch": 3,
        "global_step": 3,
        "rng": capture_rng_state(),
    }
    save_checkpoint(tmp_path, "last", model, metadata=meta(epoch=3), train_state=state)
    assert (tmp_path / "last.state.pt").is_file()

    expected = (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])
    expected_gauss = (np.random.randn(), random.gauss(0, 1))

    # Prove the state is read with weights_only=True (and nothing else).
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    c = load_checkpoint(tmp_path / "last", with_state=True)
    assert calls == [True]

    ts = c.train_state
    assert ts["epoch"] == 3 and ts["global_step"] == 3
    model2 = tiny_model(seed=5)
    model2.load_state_dict(c.state_dict)
    opt2, sched2 = make_training(model2)
    opt2.load_state_dict(ts["optimizer"])
    sched2.load_state_dict(ts["scheduler"])
    assert sched2.state_dict() == sched.state_dict()
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(
                torch.as_tensor(s1["state"][i][k]), torch.as_tensor(s2["state"][i][k])
            )

    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    restore_rng_state(ts["rng"])
    assert torch.equal(torch.rand(5), expected[0])
    assert np.array_equal(np.random.rand(5), expected[1])
    assert [random.random() for _ in range(5)] == expected[2]
    assert (np.random.randn(), random.gauss(0, 1)) == expected_gauss


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    def fresh():
        model = tiny_model(seed=7)
        return (model, *make_training(model))

    def seed_all():
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)

    seed_all()
    model, opt, sched = fresh()
    train_steps(model, opt, sched, 8)
    uninterrupted = {k: v.clone() for k, v in model.state_dict().items()}

    seed_all()
    model, opt, sched = fresh()
    train_steps(model, opt, sched, 3)
    state = {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": capture_rng_state(),
    }
    save_checkpoint(tmp_path, "last", model, metadata=meta(epoch=3), train_state=state)
    del model, opt, sched

    seed_all()  # whatever the new process did before resuming must not matter
    torch.rand(100)
    c = load_checkpoint(tmp_path, with_state=True)
    model, opt, sched = fresh()
    model.load_state_dict(c.state_dict)
    opt.load_state_dict(c.train_state["optimizer"])
    sched.load_state_dict(c.train_state["scheduler"])
    restore_rng_state(c.train_state["rng"])
    train_steps(model, opt, sched, 5)
    assert_state_dicts_equal(model.state_dict(), uninterrupted)


def test_save_accepts_a_state_dict_and_tied_weights(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight

    model = Tied()
    save_checkpoint(tmp_path, "t", model, metadata=meta())
    assert_state_dicts_equal(load_checkpoint(tmp_path / "t").state_dict, model.state_dict())
    sd = {"w": torch.arange(6.0).reshape(2, 3).t()}  # non-contiguous
    save_checkpoint(tmp_path, "sd", sd, metadata=meta())
    assert torch.equal(load_checkpoint(tmp_path / "sd").state_dict["w"], sd["w"])


# ----------------------------------------------------------------------------- damaged files


@pytest.fixture
def saved(tmp_path) -> Path:
    save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta())
    return tmp_path


def test_truncated_weights_are_detected(saved):
    w = saved / "last.safetensors"
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(NoisylabError, match="tampered with or truncated") as e:
        load_checkpoint(saved / "last")
    assert "last.safetensors" in str(e.value) and "\n" not in str(e.value)


def test_one_flipped_byte_is_detected(saved):
    w = saved / "last.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x01  # inside the tensor data: still parses as safetensors
    w.write_bytes(bytes(data))
    with pytest.raises(NoisylabError, match="does not match the SHA-256"):
        load_checkpoint(saved / "last")


def test_corrupt_safetensors_with_matching_hash(saved):
    w = saved / "last.safetensors"
    w.write_bytes(b"\xff" * 40)
    rehash(saved / "last.json", "weights", w)
    with pytest.raises(NoisylabError, match="not a valid safetensors file"):
        load_checkpoint(saved / "last")


def test_missing_files_say_what_was_looked_for(saved):
    (saved / "last.json").unlink()
    with pytest.raises(NoisylabError, match=r"looked for .*last\.json.*without its metadata"):
        load_checkpoint(saved / "last.safetensors")
    with pytest.raises(
        NoisylabError, match=r"no checkpoint in run folder .*best\.json.*last\.json"
    ):
        load_checkpoint(saved)
    with pytest.raises(NoisylabError, match=r"no checkpoint at .*nope.*nope\.json"):
        load_checkpoint(saved / "nope")

    save_checkpoint(saved, "e", tiny_model(), metadata=meta())
    (saved / "e.safetensors").unlink()
    with pytest.raises(
        NoisylabError, match=r"checkpoint file missing: looked for .*e\.safetensors"
    ):
        load_checkpoint(saved / "e")


@pytest.mark.parametrize(
    "content", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"architecture": "cnn-s"}']
)
def test_unreadable_or_incomplete_json(saved, content):
    (saved / "last.json").write_bytes(content)
    with pytest.raises(NoisylabError, match=r"last\.json"):
        load_checkpoint(saved / "last")


def test_newer_format_is_refused_with_advice(saved):
    m = json.loads((saved / "last.json").read_text())
    m["format_version"] = 99
    (saved / "last.json").write_text(json.dumps(m))
    with pytest.raises(NoisylabError, match="upgrade noisylab"):
        load_checkpoint(saved / "last")


# ----------------------------------------------------------------------------- compatibility


def test_check_compatible(tmp_path):
    save_checkpoint(tmp_path, "best", tiny_model(), metadata=meta(architecture="cnn-l"))
    c = load_checkpoint(tmp_path)
    check_compatible(c, architecture="cnn-l", num_classes=3)
    check_compatible(c, architecture="cnn-l")  # class count unchecked: head gets replaced
    with pytest.raises(NoisylabError) as e:
        check_compatible(c, architecture="cnn-s")
    msg = str(e.value)
    assert "is architecture 'cnn-l', this run builds 'cnn-s'" in msg
    assert "--init scratch" in msg and "best.json" in msg
    with pytest.raises(NoisylabError, match="has 3 classes, this run needs 10"):
        check_compatible(c, architecture="cnn-l", num_classes=10)


# ----------------------------------------------------------------------------- atomicity


def test_crash_while_writing_keeps_previous_last(tmp_path, monkeypatch):
    old = tiny_model(seed=1)
    save_checkpoint(tmp_path, "last", old, metadata=meta(epoch=1), train_state={"epoch": 1})
    before = files_in(tmp_path)

    # The writer dies after the weights temp file exists, before anything is renamed.
    real_fsync, n = os.fsync, []

    def failing_fsync(fd):
        n.append(fd)
        if len(n) == 2:
            raise OSError("disk full")
        real_fsync(fd)

    monkeypatch.setattr(ck.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(
            tmp_path, "last", tiny_model(seed=2), metadata=meta(epoch=2), train_state={"epoch": 2}
        )
    monkeypatch.undo()

    assert files_in(tmp_path) == before  # temp files cleaned up
    c = load_checkpoint(tmp_path / "last", with_state=True)
    assert c.metadata["epoch"] == 1 and c.train_state == {"epoch": 1}
    assert_state_dicts_equal(c.state_dict, old.state_dict())


def test_hard_crash_before_rename_leaves_nothing_that_looks_like_a_checkpoint(
    tmp_path, monkeypatch
):
    old = tiny_model(seed=1)
    save_checkpoint(tmp_path, "last", old, metadata=meta(epoch=1))
    save_checkpoint(tmp_path, epoch_stem(1), old, metadata=meta(epoch=1))
    listing = list_checkpoints(tmp_path)

    def crash(*_):
        raise RuntimeError("killed")

    # A hard crash runs no cleanup: make unlink a no-op so the temp files stay.
    monkeypatch.setattr(ck.os, "replace", crash)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path, "last", tiny_model(seed=2), metadata=meta(epoch=2))
    monkeypatch.undo()

    leftovers = [n for n in files_in(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 2  # weights and JSON temp files
    for name in leftovers:
        assert name.startswith(".last.")
    assert list_checkpoints(tmp_path) == listing
    c = load_checkpoint(tmp_path)
    assert c.metadata["epoch"] == 1
    assert_state_dicts_equal(c.state_dict, old.state_dict())


def test_crash_between_renames_is_detected_not_silently_mixed(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "last", tiny_model(seed=1), metadata=meta(epoch=1))
    real_replace, n = os.replace, []

    def replace_then_crash(src, dst):
        n.append(dst)
        if len(n) == 2:  # weights are in place, the JSON is not
            raise RuntimeError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", replace_then_crash)
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path, "last", tiny_model(seed=2), metadata=meta(epoch=2))
    monkeypatch.undo()
    assert not [n for n in files_in(tmp_path) if n.endswith(".tmp")]
    with pytest.raises(NoisylabError, match="tampered with or truncated"):
        load_checkpoint(tmp_path / "last")


class Opaque:
    """Picklable, but not a type torch.load(weights_only=True) accepts."""


def test_bad_input_writes_nothing(tmp_path):
    class Local:
        pass

    with pytest.raises(TypeError, match="weights_only"):
        save_checkpoint(
            tmp_path, "last", tiny_model(), metadata=meta(), train_state={"x": Opaque()}
        )
    with pytest.raises(TypeError, match="cannot be saved"):
        save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta(), train_state={"x": Local()})
    with pytest.raises(ValueError, match="set by save_checkpoint"):
        save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta(created="now"))
    with pytest.raises(ValueError, match="missing"):
        save_checkpoint(tmp_path, "last", tiny_model(), metadata={"architecture": "cnn-s"})
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta(config={"root": Path("x")}))
    for stem in (".hidden", "a/b", "x.tmp", ""):
        with pytest.raises(ValueError, match="checkpoint name"):
            save_checkpoint(tmp_path, stem, tiny_model(), metadata=meta())
    assert files_in(tmp_path) == []


# ----------------------------------------------------------------------------- unsafe state


class _Exploit:
    """Unpickling this calls os.mkdir(marker): stands in for arbitrary code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_state_that_would_run_code_is_refused(tmp_path):
    save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta(), train_state={"epoch": 1})
    marker = tmp_path / "pwned"
    state = tmp_path / "last.state.pt"
    torch.save({"epoch": 1, "payload": _Exploit(str(marker))}, state)

    with pytest.raises(NoisylabError, match="tampered with or truncated"):
        load_checkpoint(tmp_path / "last", with_state=True)
    rehash(tmp_path / "last.json", "state", state)  # an attacker who also edits the JSON
    with pytest.raises(NoisylabError, match=r"refusing training state .*weights_only=True") as e:
        load_checkpoint(tmp_path / "last", with_state=True)
    assert "\n" not in str(e.value)
    assert not marker.exists()
    torch.load(state, weights_only=False)  # proof the payload is live: plain loading runs it
    assert marker.is_dir()
    assert load_checkpoint(tmp_path / "last").train_state is None  # weights alone still load


def test_state_replaced_or_absent(tmp_path):
    save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta(), train_state={"epoch": 1})
    save_checkpoint(tmp_path, "last", tiny_model(), metadata=meta())  # no state this time
    assert not (tmp_path / "last.state.pt").exists()  # a stale state file would mislead
    with pytest.raises(NoisylabError, match="without training state"):
        load_checkpoint(tmp_path / "last", with_state=True)


# ----------------------------------------------------------------------------- copy / list


def test_copy_checkpoint_makes_best_and_last(tmp_path):
    for e in (1, 2, 3):
        save_checkpoint(
            tmp_path, epoch_stem(e), tiny_model(seed=e), metadata=meta(epoch=e),
            train_state={"epoch": e},
        )  # fmt: skip
    assert copy_checkpoint(tmp_path, "epoch-002", "best") == tmp_path / "best.json"
    copy_checkpoint(tmp_path, "epoch-003", "last")
    copy_checkpoint(tmp_path, "epoch-001", "last")  # replaces an existing last

    best = load_checkpoint(tmp_path, with_state=True)
    assert best.stem == "best" and best.metadata["epoch"] == 2 and best.train_state == {"epoch": 2}
    assert_state_dicts_equal(best.state_dict, tiny_model(seed=2).state_dict())
    assert load_checkpoint(tmp_path / "last").metadata["epoch"] == 1
    assert not [n for n in files_in(tmp_path) if n.startswith(".")]

    listing = list_checkpoints(tmp_path)
    assert listing.epochs == {e: tmp_path / f"epoch-{e:03d}.json" for e in (1, 2, 3)}
    assert list(listing.epochs) == [1, 2, 3]
    assert listing.best == tmp_path / "best.json" and listing.last == tmp_path / "last.json"

    # Re-saving an epoch never changes a checkpoint that was copied from it (no in-place writes).
    save_checkpoint(tmp_path, "epoch-002", tiny_model(seed=9), metadata=meta(epoch=2))
    assert_state_dicts_equal(load_checkpoint(tmp_path / "best").state_dict, best.state_dict)


def test_copy_refuses_a_damaged_source(tmp_path):
    save_checkpoint(tmp_path, "epoch-001", tiny_model(), metadata=meta())
    save_checkpoint(tmp_path, "epoch-002", tiny_model(1), metadata=meta(epoch=2))
    copy_checkpoint(tmp_path, "epoch-001", "best")
    w = tmp_path / "epoch-002.safetensors"
    w.write_bytes(w.read_bytes()[:-1])
    with pytest.raises(NoisylabError, match="tampered with or truncated"):
        copy_checkpoint(tmp_path, "epoch-002", "best")
    assert load_checkpoint(tmp_path / "best").metadata["epoch"] == 1


def test_copy_without_state_removes_a_stale_one(tmp_path):
    save_checkpoint(tmp_path, "epoch-001", tiny_model(), metadata=meta(), train_state={"epoch": 1})
    copy_checkpoint(tmp_path, "epoch-001", "last")
    save_checkpoint(tmp_path, "epoch-002", tiny_model(), metadata=meta(epoch=2))
    copy_checkpoint(tmp_path, "epoch-002", "last")
    assert not (tmp_path / "last.state.pt").exists()


def test_list_checkpoints_empty_and_ignores_strays(tmp_path):
    assert list_checkpoints(tmp_path / "missing") == ck.CheckpointListing({}, None, None)
    (tmp_path / "epoch-abc.json").write_text("{}")
    (tmp_path / ".epoch-004.json.x1.tmp").write_text("{}")
    (tmp_path / "epoch-005.safetensors").write_bytes(b"")  # no JSON: not a checkpoint
    save_checkpoint(tmp_path, epoch_stem(12), tiny_model(), metadata=meta(epoch=12))
    assert list_checkpoints(tmp_path) == ck.CheckpointListing(
        {12: tmp_path / "epoch-012.json"}, None, None
    )
    assert epoch_stem(3) == "epoch-003" and epoch_stem(1234) == "epoch-1234"
    with pytest.raises(ValueError):
        epoch_stem(-1)


def test_rng_state_captures_only_weights_only_types():
    state = capture_rng_state()
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    back = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(back)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    with pytest.raises(ValueError, match="capture_rng_state"):
        restore_rng_state({"torch": torch.get_rng_state()})
