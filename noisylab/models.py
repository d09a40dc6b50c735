"""The CNN family, and building a model for K classes from a checkpoint trained for another K.

Every model takes images as floats in ``[0, 1]`` of shape ``(B, 1, 28, 28)`` (white ink on
black, MNIST style) and returns logits ``(B, K)``; a ``cnn-*`` model built with side inputs also
takes a few numbers per image beside the pixels (``side``, see `CharCNN`), which an add-on
makes (`noisylab.addons.SideInputProvider`). Input normalisation lives inside the model so
that a checkpoint is usable on its own. Each model is split into ``features`` (the backbone,
shared across tasks) and ``head`` (the last linear layer, which depends on K), so transfer can
keep the backbone and re-initialise the head when the class count differs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from noisylab.checkpoints import load_checkpoint
from noisylab.errors import NoisylabError

# Mean and standard deviation of MNIST training pixels, the usual normalisation.
_MEAN, _STD = 0.1307, 0.3081


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Images in ``[0, 1]`` to the standardised input of ``features`` (same shape)."""
    return (x - _MEAN) / _STD


def _conv(c_in: int, c_out: int, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def _conv_pooled(c_in: int, c_out: int, k: int) -> list[nn.Module]:
    return [*_conv(c_in, c_out, k), nn.MaxPool2d(2)]


def _pooled_conv(c_in: int, c_out: int, k: int) -> list[nn.Module]:
    conv, norm, relu = _conv(c_in, c_out, k)
    return [conv, nn.MaxPool2d(2), norm, relu]


class CharCNN(nn.Module):
    """A small VGG-style CNN: conv-BN-ReLU blocks, two max-pools, global average pooling.

    With ``side_inputs``, the head also reads a few numbers per image beside the pixels (an
    add-on's features, `noisylab.addons.SideInputProvider`: the last one 1 where the others
    are known and 0 where not), e.g. facts the preprocessing of the image threw away. They are
    standardised by ``side_mean`` and ``side_scale`` (buffers set from the training images by
    `set_side_scaling`, saved with the weights), passed through a small ReLU layer and joined
    to the pooled image features. In training a random ``side_dropout`` of the images lose them
    (all zero, as for an image whose features are unknown), so the model also answers well
    without them.

    Parameters
    ----------
    widths : tuple of int
        Channels of the three stages (28x28, 14x14, 7x7).
    num_classes : int
        K, the size of the head.
    dropout : float
        Dropout before the head.
    side_inputs : int
        Numbers per image beside the pixels (the last one a 1/0 "known" flag); 0 for none.
    side_dropout : float
        Share of training images whose side inputs are dropped.
    """

    def __init__(self, widths: tuple[int, int, int], num_classes: int, *, dropout: float = 0.1,
                 side_inputs: int = 0, side_dropout: float = 0.15):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            *_conv(1, a), *_conv(a, a), nn.MaxPool2d(2),
            *_conv(a, b), *_conv(b, b), nn.MaxPool2d(2),
            *_conv(b, c), *_conv(c, c),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        )
        self.side_inputs, self.side_dropout = side_inputs, side_dropout
        side_width = 0
        if side_inputs:
            side_width = 32
            self.register_buffer("side_mean", torch.zeros(side_inputs - 1))
            self.register_buffer("side_scale", torch.ones(side_inputs - 1))
            self.side = nn.Sequential(nn.Linear(side_inputs, side_width), nn.ReLU(inplace=True))
        self.head = nn.Linear(c + side_width, num_classes)

    def set_side_scaling(self, side: torch.Tensor) -> None:
        """Standardise side inputs as those of ``side`` ``(N, side_inputs)`` (training images)
        that are known are: their mean and standard deviation."""
        known = side[side[:, -1] > 0, :-1].float()
        if len(known) >= 2:
            self.side_mean.copy_(known.mean(0))
            self.side_scale.copy_(known.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, K)`` for images ``(B, 1, 28, 28)`` in ``[0, 1]`` (and, for a model
        with side inputs, their ``(B, side_inputs)`` side inputs)."""
        h = self.features(normalise(x))
        if self.side_inputs:
            if side is None:
                raise NoisylabError("this model also reads numbers beside the pixels (side "
                                    "inputs), and none were given")
            side = side.float()
            known = side[:, -1:]
            s = torch.cat([(side[:, :-1] - self.side_mean) / self.side_scale * known, known], 1)
            if self.training and self.side_dropout:
                s = s * (torch.rand(len(s), 1, device=s.device) >= self.side_dropout)
            h = torch.cat([h, self.side(s).to(h.dtype)], 1)
        return self.head(h)


class LeNetBN(nn.Module):
    """A LeNet-like CNN with batch norm: two conv stages and a 128-unit hidden layer.

    Few FLOPs per image, so it is the fastest to train on a CPU. The default (5x5 kernels,
    32 and 64 channels) is ``lenet``; ``tiny`` (3x3, 16 and 32) has about a quarter of its
    multiply-adds, and ``tiny-pool-first``, the same pooled before its batch norms, is the
    audit's cross-fitted model, where many short fits matter more than the last fraction of a
    percent.

    Parameters
    ----------
    num_classes : int
    widths : tuple of int
        Channels of the two conv stages (28x28 and 14x14).
    kernel : int
        Square kernel size of both convs.
    dropout : float
    pool_first : bool
        Max-pool each conv's output before its batch norm and ReLU rather than after: a quarter
        of their work, which on a CPU in float32 is about a quarter of a training step (the
        convolutions are small). The ReLU commutes with the pool; the batch norm then
        normalises the pooled maxima, a slightly different model.
    """

    def __init__(self, num_classes: int, *, widths: tuple[int, int] = (32, 64), kernel: int = 5,
                 dropout: float = 0.2, pool_first: bool = False):
        super().__init__()
        a, b = widths
        stage = _pooled_conv if pool_first else _conv_pooled
        self.features = nn.Sequential(
            *stage(1, a, kernel), *stage(a, b, kernel),
            nn.Flatten(), nn.Linear(b * 7 * 7, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, K)`` for images ``(B, 1, 28, 28)`` in ``[0, 1]`` (``side`` is unused)."""
        return self.head(self.features(normalise(x)))


def side_inputs_of(model: nn.Module) -> int:
    """How many numbers per image a model reads beside the pixels (0 for most)."""
    return int(getattr(model, "side_inputs", 0))


ARCHITECTURES = {
    "tiny": (lambda k, side=0: LeNetBN(k, widths=(16, 32), kernel=3),
             "2x 3x3 conv (16, 32) + 128 hidden"),
    "tiny-pool-first": (lambda k, side=0: LeNetBN(k, widths=(16, 32), kernel=3, pool_first=True),
                        "tiny, each conv max-pooled before its batch norm: a quarter faster "
                        "on a CPU; the audit's model"),
    "lenet": (lambda k, side=0: LeNetBN(k),
              "LeNet-style, 2x 5x5 conv + 128 hidden; fastest on CPU"),
    "cnn-s": (lambda k, side=0: CharCNN((24, 48, 96), k, side_inputs=side),
              "6 conv layers, 24-48-96 channels"),
    "cnn-m": (lambda k, side=0: CharCNN((32, 64, 128), k, side_inputs=side),
              "6 conv layers, 32-64-128 channels"),
    "cnn-l": (lambda k, side=0: CharCNN((64, 128, 256), k, side_inputs=side),
              "6 conv layers, 64-128-256 channels"),
}
"""``{name: (factory(num_classes, side_inputs=0), description)}``."""

_READS_SIDE_INPUTS = ("cnn-s", "cnn-m", "cnn-l")


def reads_side_inputs(arch: str) -> bool:
    """Whether models of the architecture ``arch`` can read numbers beside the pixels
    (`CharCNN`'s ``side_inputs``). Looked up, not built: building would draw from torch's RNG
    and change the weights the seeded run then initialises."""
    check_architecture(arch)
    return arch in _READS_SIDE_INPUTS


def check_architecture(arch: str, *, option: str | None = None) -> None:
    """Raise `NoisylabError` unless ``arch`` names a known architecture (``option``, e.g.
    ``"--distill-arch"``, is named in the message)."""
    if arch not in ARCHITECTURES:
        where = f" ({option})" if option else ""
        raise NoisylabError(f"unknown architecture {arch!r}{where}; known: "
                            f"{', '.join(ARCHITECTURES)}")


def build_model(arch: str, num_classes: int, *, side_inputs: int = 0) -> nn.Module:
    """A freshly initialised model of a named architecture.

    Parameters
    ----------
    arch : str
        A key of ``ARCHITECTURES``.
    num_classes : int
        K, the number of classes the head predicts.
    side_inputs : int
        Numbers per image the model also reads beside the pixels (0: none); only for the
        architectures that can (`reads_side_inputs`).
    """
    check_architecture(arch)
    if num_classes < 2:
        raise NoisylabError(f"a classifier needs at least 2 classes, got {num_classes}")
    if side_inputs and not reads_side_inputs(arch):
        raise NoisylabError(f"{arch} reads only the pixels, not side inputs; choose a cnn-* "
                            "architecture")
    return ARCHITECTURES[arch][0](num_classes, side_inputs)


class GeneratorDropout(nn.Module):
    """`torch.nn.Dropout` whose masks come from its own ``generator``, not torch's global one.

    Models fitted side by side in threads of one process (`noisylab.parallel`) share the global
    generator; drawn from it, each model's masks would depend on how the threads interleave.
    """

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with a share ``p`` of its entries zeroed and the rest scaled by ``1 / (1 - p)``
        in training mode; ``x`` itself in eval mode."""
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


def with_own_dropout(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """``model`` with each `torch.nn.Dropout` replaced by a `GeneratorDropout` drawing from
    ``generator`` (in place; the weights and the state dict's keys are unchanged)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            setattr(model, name, GeneratorDropout(child.p, generator))
        else:
            with_own_dropout(child, generator)
    return model


@dataclass(frozen=True)
class TransferReport:
    """What ``transfer_weights`` did: parameter names kept from the source, and re-initialised."""

    kept: tuple[str, ...]
    reinitialised: tuple[str, ...]

    @property
    def head_kept(self) -> bool:
        return not any(name.startswith("head.") for name in self.reinitialised)


def transfer_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> TransferReport:
    """Load a checkpoint of the same architecture, re-initialising the head if K differs.

    Parameters
    ----------
    model : nn.Module
        A freshly built model (its own initialisation is kept where the source does not fit).
    state_dict : mapping of str to Tensor
        Weights of a model of the same architecture, possibly for another number of classes.

    Returns
    -------
    TransferReport
        Names copied from ``state_dict`` and names left at their fresh initialisation.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise NoisylabError(
            f"checkpoint does not fit this architecture (e.g. parameter {example!r} "
            f"{'missing' if missing else 'unexpected'}); use a checkpoint of the same architecture"
        )
    kept, fresh = [], []
    for name, tensor in own.items():
        source = state_dict[name]
        if source.shape == tensor.shape:
            kept.append(name)
        elif name.startswith("head."):
            fresh.append(name)
        else:
            raise NoisylabError(
                f"checkpoint parameter {name!r} has shape {tuple(source.shape)}, this model "
                f"needs {tuple(tensor.shape)}; use a checkpoint of the same architecture"
            )
    model.load_state_dict({n: state_dict[n] for n in kept}, strict=False)
    return TransferReport(tuple(kept), tuple(fresh))


def load_model(checkpoint: str | os.PathLike, *, device: str | torch.device = "cpu"):
    """A model rebuilt from a checkpoint, in eval mode, and the checkpoint itself."""
    ckpt = load_checkpoint(checkpoint, map_location=device)
    meta = ckpt.metadata
    model = build_model(meta["architecture"], int(meta["num_classes"]),
                        side_inputs=checkpoint_side_inputs(ckpt))
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise NoisylabError(f"{ckpt.path} does not match its declared architecture "
                            f"{meta['architecture']!r}: {first}") from None
    return model.to(device, memory_format=torch.channels_last).eval(), ckpt


def checkpoint_side_inputs(ckpt) -> int:
    """How many numbers per image a checkpoint's model reads beside the pixels (0 for most),
    from its weights: the input width of `CharCNN`'s side layer."""
    weight = ckpt.state_dict.get("side.0.weight")  # (width, side inputs)
    return 0 if weight is None else int(weight.shape[1])
