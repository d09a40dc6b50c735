"""The forward pass's precision: which dtype each setting means, and that training obeys it."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from synthetic import blobs
from test_train import FAST

import noisylab.train as train_module
from noisylab.cli import cli
from noisylab.errors import NoisylabError
from noisylab.losses import make_loss
from noisylab.models import build_model
from noisylab.train import (
    TrainConfig,
    autocast_dtype,
    fastest_precision,
    native_bf16,
    train_one_epoch,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize("device, native, precision, expected", [
    ("cuda", True, "auto", torch.bfloat16),
    ("cuda", False, "auto", None),
    ("cpu", True, "auto", None),  # native, but it cost accuracy on the CPU: asked for only
    ("cpu", True, "bf16", torch.bfloat16),
    ("cuda", True, "fp32", None),
    ("cpu", False, "bf16", torch.bfloat16),  # asked for: given, even where it is emulated
])
def test_auto_means_bfloat16_only_on_a_gpu_that_has_it(monkeypatch, device, native, precision,
                                                       expected):
    monkeypatch.setattr(train_module, "native_bf16", lambda device: native)
    assert autocast_dtype(precision, torch.device(device)) is expected


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_the_benchmarks_take_bfloat16_wherever_it_is_native(monkeypatch, native, expected):
    monkeypatch.setattr(train_module, "native_bf16", lambda device: native)
    assert fastest_precision(CPU) == expected


def test_unknown_precisions_are_clear_errors():
    with pytest.raises(NoisylabError, match="unknown precision 'fp16'; use auto, fp32, bf16"):
        autocast_dtype("fp16", CPU)
    with pytest.raises(NoisylabError, match="unknown precision 'half'"):
        TrainConfig(**dict(FAST, precision="half"))


@pytest.mark.parametrize("gpu_has_it", [True, False])
def test_cuda_asks_the_gpu_and_a_torch_without_the_cpu_probes_means_float32(monkeypatch,
                                                                            gpu_has_it):
    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: asked.append(including_emulation)
                        or gpu_has_it)
    assert native_bf16(torch.device("cuda")) is gpu_has_it
    assert asked == [False]  # emulated bfloat16 is slower than float32: it does not count
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert native_bf16(CPU) is False


def _one_epoch(precision: str) -> tuple[float, torch.Tensor]:
    data = blobs(256, seed=0)
    torch.manual_seed(0)
    model = build_model("lenet", 4).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    loss = train_one_epoch(model, make_loss("ce", num_classes=4), opt, sched, data.images,
                           data.labels, generator=torch.Generator().manual_seed(0),
                           batch_size=32, augment=True, precision=precision, progress=False)
    return loss, model.head.weight.detach().clone()


def test_training_runs_in_the_precision_asked_for(monkeypatch):
    fp32_loss, fp32 = _one_epoch("fp32")
    bf16_loss, bf16 = _one_epoch("bf16")
    assert not torch.equal(fp32, bf16)  # bfloat16 rounding changes every step
    assert torch.isfinite(bf16).all() and abs(bf16_loss - fp32_loss) < 0.1
    assert torch.equal(_one_epoch("bf16")[1], bf16)  # and is as repeatable as float32
    monkeypatch.setattr(train_module, "native_bf16", lambda device: True)
    assert torch.equal(_one_epoch("auto")[1], fp32)  # on a CPU, auto is float32 even so


def test_the_cli_records_the_precision_and_refuses_unknown_ones(tmp_path, monkeypatch):
    data = tmp_path / "d"
    for c in "ab":
        (data / c).mkdir(parents=True)
    images = blobs(80, seed=0)
    for i, (im, y) in enumerate(zip(images.images[:, 0].numpy(), images.labels.tolist(), strict=True)):
        if y < 2:
            Image.fromarray(im).save(data / "ab"[y] / f"{i}.png")
    args = ["train", "--data", f"folder:{data}", "--loss", "ce", "--epochs", "1",
            "--batch-size", "16", "--out", str(tmp_path / "run")]
    r = CliRunner().invoke(cli, [*args, "--precision", "fp16"])
    assert r.exit_code == 2 and "'fp16' is not one of 'auto', 'fp32', 'bf16'" in r.output
    r = CliRunner().invoke(cli, [*args, "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert "float32 forward pass (--precision fp32)" in r.output
    assert json.loads((tmp_path / "run" / "last.json").read_text())["config"]["precision"] == "fp32"
    monkeypatch.setattr(train_module, "native_bf16", lambda device: False)
    r = CliRunner().invoke(cli, [*args, "--precision", "bf16", "--out", str(tmp_path / "run2")])
    assert r.exit_code == 0, r.output
    assert "bfloat16 forward pass (--precision bf16) (emulated here: slower than float32)" in r.output
