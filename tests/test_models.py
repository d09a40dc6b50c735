"""The architectures: saved models keep loading, and the audit's pool-first model pools first."""

from __future__ import annotations

import torch
from torch import nn

from noisylab.models import ARCHITECTURES, build_model


def _keys(arch: str) -> list[str]:
    return list(build_model(arch, 10).state_dict())


def test_tiny_and_lenet_keep_the_layer_names_their_checkpoints_were_saved_with():
    bn_stats = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    for arch in ("tiny", "lenet"):
        keys = _keys(arch)
        assert keys[:1] == ["features.0.weight"]
        assert [f"features.1.{s}" for s in bn_stats] == keys[1:6]  # conv, batch norm, ...
        assert "features.4.weight" in keys and "features.5.running_mean" in keys
        assert "features.9.weight" in keys  # the hidden layer after two pooled stages


def _batch_norm_inputs(arch: str) -> list[tuple[int, ...]]:
    model = build_model(arch, 10).train()
    shapes = []
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.register_forward_hook(lambda m, inp, out: shapes.append(tuple(inp[0].shape)))
    logits = model(torch.rand(4, 1, 28, 28))
    assert logits.shape == (4, 10)
    return shapes


def test_pool_first_normalises_the_pooled_maps_a_quarter_the_size():
    assert _batch_norm_inputs("tiny") == [(4, 16, 28, 28), (4, 32, 14, 14)]
    assert _batch_norm_inputs("tiny-pool-first") == [(4, 16, 14, 14), (4, 32, 7, 7)]


def test_pool_first_has_the_same_parameters_as_tiny():
    counts = {a: sum(p.numel() for p in build_model(a, 10).parameters())
              for a in ("tiny", "tiny-pool-first")}
    assert counts["tiny"] == counts["tiny-pool-first"]
    assert "tiny-pool-first" in ARCHITECTURES
