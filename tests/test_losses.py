"""Tests for noisylab.losses: values, numerics, the papers' identities, and a tiny training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from noisylab import losses as L
from noisylab.errors import NoisylabError

ALL = list(L.LOSSES)
COMPLEMENTARY = ["scl-nl", "scl-exp", "fwd", "ure-ga", "pc"]
K = 4


def build(name: str, k: int = K, **opts) -> L.NoisyLoss:
    """make_loss with a transition for 'forward' (a mild noise matrix) unless one is given."""
    if name == "forward" and "transition" not in opts:
        opts["transition"] = 0.8 * torch.eye(k) + 0.2 / k
    return L.make_loss(name, num_classes=k, **opts)


def all_complements(y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample repeated once per class it is not: (index into y, complementary label)."""
    idx, comp = zip(
        *[(i, c) for i, t in enumerate(y.tolist()) for c in range(k) if c != t], strict=True
    )
    return torch.tensor(idx), torch.tensor(comp)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster than several fighting over shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- registry --------------------------------------------------------------------------------


def test_registry_lists_every_loss_with_kind_description_and_paper():
    assert set(L.LOSSES) == {"ce", "gce", "forward", "scl-nl", "scl-exp", "fwd", "ure-ga", "pc"}
    for name, spec in L.LOSSES.items():
        cls = spec.factory
        assert cls.name == name
        assert cls.kind == ("complementary" if name in COMPLEMENTARY else "ordinary")
        assert spec.description and "\n" not in spec.description
        assert "References\n    ----------" in cls.__doc__
        assert cls.criterion in L.CRITERIA
        assert build(name).kind == cls.kind


def test_make_loss_rejects_unknown_name_in_one_line_listing_the_known_ones():
    with pytest.raises(NoisylabError) as err:
        L.make_loss("focal", num_classes=3)
    msg = str(err.value)
    assert "\n" not in msg and "'focal'" in msg
    assert all(name in msg for name in L.LOSSES)


@pytest.mark.parametrize(
    ("name", "kwargs", "needle"),
    [
        ("ce", {"transition": np.eye(3)}, "takes no transition"),
        ("forward", {}, "needs transition="),
        ("ce", {"q": 0.5}, "does not take option(s) q"),
        ("gce", {"q": 0.0}, "q must be"),
        ("gce", {"q": 1.5}, "q must be"),
        ("ure-ga", {"prior": "balanced"}, "prior must be 'uniform', 'batch'"),
        ("ure-ga", {"prior": [0.5, 0.5]}, "prior must have shape (3,)"),
        ("ure-ga", {"beta": -1.0}, "beta must be"),
    ],
)
def test_make_loss_option_errors_are_clear(name, kwargs, needle):
    with pytest.raises(NoisylabError) as err:
        L.make_loss(name, num_classes=3, **kwargs)
    assert needle in str(err.value)


def test_the_losses_that_take_a_transition_matrix_are_those_make_loss_gives_one():
    takers = [name for name in L.LOSSES if L.takes_transition(name)]
    assert takers == ["forward", "fwd"] and not L.takes_transition("focal")
    with pytest.raises(NoisylabError, match="only forward, fwd do"):
        L.make_loss("scl-nl", num_classes=3, transition=np.eye(3))


@pytest.mark.parametrize("k", [1, 0, 2.5, True])
def test_num_classes_must_be_an_integer_at_least_two(k):
    with pytest.raises(NoisylabError, match="num_classes"):
        L.make_loss("ce", num_classes=k)


# --- numerics --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_finite_scalar_and_gradient_shape(name):
    torch.manual_seed(0)
    logits = torch.randn(6, K, requires_grad=True)
    labels = torch.randint(0, K, (6,))
    value = build(name)(logits, labels)
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    assert logits.grad.shape == logits.shape and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_no_nan_at_extreme_logits(name):
    # Every sign pattern: the given label far above, far below, and tied with the others.
    logits = torch.tensor(
        [
            [100.0, -100.0, -100.0, -100.0],
            [-100.0, 100.0, -100.0, -100.0],
            [100.0, 100.0, -100.0, 100.0],
            [-100.0, -100.0, -100.0, -100.0],
            [100.0, 100.0, 100.0, 100.0],
        ],
        requires_grad=True,
    )
    labels = torch.tensor([0, 0, 2, 3, 1])
    value = build(name)(logits, labels)
    assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_half_precision_logits_are_computed_in_float32(name):
    torch.manual_seed(1)
    logits = torch.randn(5, K)
    labels = torch.randint(0, K, (5,))
    loss = build(name)
    assert loss(logits.half(), labels).dtype == torch.float32
    assert torch.allclose(loss(logits.half(), labels), loss(logits.half().float(), labels))


# --- hand-computed values --------------------------------------------------------------------

HAND_LOGITS = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]
HAND_LABELS = [0, 2]


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _hand(name: str) -> float:
    k = 3
    per = []
    for f, c in zip(HAND_LOGITS, HAND_LABELS, strict=True):
        p = _softmax(f)
        if name == "ce":
            per.append(-math.log(p[c]))
        elif name == "gce":
            per.append((1 - p[c] ** 0.7) / 0.7)
        elif name == "scl-nl":
            per.append(-math.log(1 - p[c]))
        elif name == "scl-exp":
            per.append(math.exp(p[c]))
        elif name == "fwd":
            per.append(-math.log((1 - p[c]) / (k - 1)))
        elif name == "pc":
            pairs = sum(_sigmoid(f[c] - f[j]) for j in range(k) if j != c)
            per.append((k - 1) * pairs - k * (k - 1) / 2 + (k - 1))
        elif name == "ure-ga":  # no partial risk is negative here, so no ascent
            per.append(-(k - 1) * -math.log(p[c]) + sum(-math.log(q) for q in p))
    return sum(per) / len(per)


@pytest.mark.parametrize("name", ["ce", "gce", "scl-nl", "scl-exp", "fwd", "pc", "ure-ga"])
def test_matches_hand_computed_value(name):
    # ure-ga with batch frequencies is the plain per-sample mean of Theorem 1.
    loss = L.make_loss(name, num_classes=3, **({"prior": "batch"} if name == "ure-ga" else {}))
    value = loss(torch.tensor(HAND_LOGITS, dtype=torch.float64), torch.tensor(HAND_LABELS))
    assert value.item() == pytest.approx(_hand(name), rel=1e-12)


def test_forward_matches_hand_computed_value_with_a_general_matrix():
    t = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]]
    loss = L.make_loss("forward", num_classes=3, transition=t)
    value = loss(torch.tensor(HAND_LOGITS, dtype=torch.float64), torch.tensor(HAND_LABELS))
    expected = 0.0
    for f, c in zip(HAND_LOGITS, HAND_LABELS, strict=True):
        p = _softmax(f)
        expected -= math.log(sum(p[i] * t[i][c] for i in range(3))) / 2
    assert value.item() == pytest.approx(expected, rel=1e-6)  # T is stored in float32


# --- identities between losses ---------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=3 * K, max_size=3 * K),
    st.lists(st.integers(0, K - 1), min_size=3, max_size=3),
)
def test_forward_with_identity_is_cross_entropy(values, labels):
    logits = torch.tensor(values, dtype=torch.float64).view(3, K).requires_grad_()
    labels = torch.tensor(labels)
    fwd = L.make_loss("forward", num_classes=K, transition=torch.eye(K))(logits, labels)
    (g_fwd,) = torch.autograd.grad(fwd, logits)
    ce = L.make_loss("ce", num_classes=K)(logits, labels)
    (g_ce,) = torch.autograd.grad(ce, logits)
    assert torch.allclose(fwd, ce, rtol=1e-6, atol=1e-6)
    assert torch.allclose(g_fwd, g_ce, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_fwd_is_forward_with_uniform_complementary_matrix_and_scl_nl_plus_log(k):
    torch.manual_seed(k)
    logits = (3 * torch.randn(16, k, dtype=torch.float64)).requires_grad_()
    labels = torch.randint(0, k, (16,))
    q = L.uniform_complementary_transition(k)
    assert torch.allclose(q.sum(1), torch.ones(k, dtype=torch.float64)) and q.diag().eq(0).all()
    fwd = L.make_loss("fwd", num_classes=k)(logits, labels)
    fwd_t = L.make_loss("forward", num_classes=k, transition=q)(logits, labels)
    scl = L.make_loss("scl-nl", num_classes=k)(logits, labels)
    (g1,) = torch.autograd.grad(fwd, logits)
    (g2,) = torch.autograd.grad(fwd_t, logits)
    assert torch.allclose(fwd, fwd_t) and torch.allclose(g1, g2)
    assert torch.allclose(fwd, scl + math.log(k - 1))


def test_fwd_accepts_a_biased_complementary_matrix():
    q = torch.tensor([[0.0, 0.9, 0.1], [0.5, 0.0, 0.5], [0.2, 0.8, 0.0]])
    logits = torch.tensor(HAND_LOGITS)
    labels = torch.tensor(HAND_LABELS)
    got = L.make_loss("fwd", num_classes=3, transition=q)(logits, labels)
    naive = -torch.log(torch.softmax(logits, 1) @ q)[torch.arange(2), labels].mean()
    assert torch.allclose(got, naive)


def test_forward_refuses_a_label_that_its_matrix_says_cannot_occur():
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])  # label 2 never given
    loss = L.make_loss("forward", num_classes=3, transition=t)
    assert torch.isfinite(loss(torch.randn(2, 3), torch.tensor([0, 1])))
    with pytest.raises(NoisylabError, match="column 2 of the transition matrix is all zero"):
        loss(torch.randn(2, 3), torch.tensor([0, 2]))


# --- unbiasedness (exact, by enumerating every complementary label) --------------------------


def test_ure_is_unbiased_for_the_cross_entropy_risk():
    torch.manual_seed(0)
    k = 5
    logits = 2 * torch.randn(7, k, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    idx, comp = all_complements(y, k)
    ure = L.make_loss("ure-ga", num_classes=k, prior="batch")
    risks = ure.partial_risks(logits[idx], comp)
    assert risks.shape == (k,)
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert risks.sum().item() == pytest.approx(ce.item(), rel=1e-12)
    # Per true class too: R_j is the CE risk restricted to the samples whose true class is j.
    per_class = torch.stack(
        [
            torch.nn.functional.cross_entropy(logits, y, reduction="none")[y == j].sum()
            for j in range(k)
        ]
    ) / len(y)
    assert torch.allclose(risks, per_class)
    # The value the loss returns is that estimate (its gradient may be the ascent step).
    assert ure(logits[idx], comp).item() == pytest.approx(ce.item(), rel=1e-12)


def test_ure_with_the_uniform_prior_is_unbiased_for_balanced_classes():
    torch.manual_seed(6)
    k = 4
    logits = 2 * torch.randn(2 * k, k, dtype=torch.float64)
    y = torch.arange(k).repeat(2)  # balanced true classes: complementary prior is 1 / K
    idx, comp = all_complements(y, k)
    ure = L.make_loss("ure-ga", num_classes=k)
    assert ure.prior_mode == "uniform"
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert ure.partial_risks(logits[idx], comp).sum().item() == pytest.approx(ce.item())


def test_ure_with_a_fixed_prior_matches_batch_frequencies_when_they_agree():
    torch.manual_seed(1)
    k = 4
    logits = torch.randn(3 * k, k, dtype=torch.float64)
    comp = torch.arange(k).repeat(3)  # balanced batch: frequencies are exactly 1/K
    batch = L.make_loss("ure-ga", num_classes=k).partial_risks(logits, comp)
    uniform = L.make_loss("ure-ga", num_classes=k, prior="uniform").partial_risks(logits, comp)
    fixed = L.make_loss("ure-ga", num_classes=k, prior=[0.25] * 4).partial_risks(logits, comp)
    assert torch.allclose(batch, uniform) and torch.allclose(batch, fixed)


def test_pc_is_unbiased_for_the_ordinary_pairwise_risk():
    torch.manual_seed(2)
    k = 4
    logits = 3 * torch.randn(6, k, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    idx, comp = all_complements(y, k)
    pc = L.make_loss("pc", num_classes=k)(logits[idx], comp)
    f_y = logits.gather(1, y[:, None])
    ordinary = (torch.sigmoid(logits - f_y).sum(1) - 0.5).mean()
    assert pc.item() == pytest.approx(ordinary.item(), rel=1e-12)


def test_ure_criteria_are_unbiased_for_clean_accuracy_and_cross_entropy():
    torch.manual_seed(3)
    k = 5
    logits = 2 * torch.randn(40, k, dtype=torch.float64)
    y = torch.randint(0, k, (40,))
    idx, comp = all_complements(y, k)
    loss = L.make_loss("scl-nl", num_classes=k)
    acc = loss.validation_score(logits[idx], comp, criterion="ure-accuracy")
    assert acc.mode == "max"
    assert acc.value == pytest.approx((logits.argmax(1) == y).double().mean().item(), abs=1e-12)
    ce = loss.validation_score(logits[idx], comp, criterion="ure-ce")
    assert ce.mode == "min"
    assert ce.value == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())


# --- the gradient-ascent correction ----------------------------------------------------------


def test_ure_ga_descends_when_no_partial_risk_is_negative():
    torch.manual_seed(4)
    logits = (0.1 * torch.randn(8, 3, dtype=torch.float64)).requires_grad_()
    comp = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    ure = L.make_loss("ure-ga", num_classes=3)
    risks = ure.partial_risks(logits, comp)
    assert (risks >= 0).all()
    (g_loss,) = torch.autograd.grad(ure(logits, comp), logits)
    (g_risk,) = torch.autograd.grad(risks.sum(), logits)
    assert torch.allclose(g_loss, g_risk)


def test_ure_ga_ascends_on_the_negative_partial_risks_only():
    # One sample says "not class 0" while the model is sure it is not 0: R_0 goes negative.
    logits = torch.tensor([[-10.0, 0.0, 0.0], [0.0, 3.0, 0.0]], dtype=torch.float64)
    logits.requires_grad_()
    comp = torch.tensor([0, 1])
    ure = L.make_loss("ure-ga", num_classes=3)
    risks = ure.partial_risks(logits, comp)
    assert risks[0] < 0 and (risks[1:] >= 0).all()
    value = ure(logits, comp)
    assert value.item() == pytest.approx(risks.sum().item())  # the value stays the estimate
    (g_loss,) = torch.autograd.grad(value, logits)
    (g_neg,) = torch.autograd.grad(risks[0], logits)
    assert torch.allclose(g_loss, -g_neg)  # descending the loss = ascending on R_0
    # A step along -g_loss raises the negative partial risk.
    stepped = ure.partial_risks((logits - 0.01 * g_loss).detach(), comp)
    assert stepped[0] > risks[0]


def test_ure_ga_beta_sets_the_threshold():
    logits = torch.tensor([[-10.0, 0.0, 0.0], [0.0, 3.0, 0.0]], dtype=torch.float64)
    logits.requires_grad_()
    comp = torch.tensor([0, 1])
    ure = L.make_loss("ure-ga", num_classes=3, beta=100.0)  # R_0 > -100: plain descent
    (g_loss,) = torch.autograd.grad(ure(logits, comp), logits)
    (g_risk,) = torch.autograd.grad(ure.partial_risks(logits, comp).sum(), logits)
    assert torch.allclose(g_loss, g_risk)


# --- minimisers ------------------------------------------------------------------------------


def _minimise_weighted(name: str, comp: torch.Tensor, weights: torch.Tensor, k: int):
    """Minimise sum_c weights[c] * loss(logits, c) over one free logit vector."""
    torch.manual_seed(0)
    z = (0.01 * torch.randn(1, k, dtype=torch.float64)).requires_grad_()
    loss = L.make_loss(name, num_classes=k)
    opt = torch.optim.Adam([z], lr=0.1)
    for _ in range(400):
        opt.zero_grad()
        total = sum(w * loss(z, c.view(1)) for c, w in zip(comp, weights, strict=True))
        total.backward()
        opt.step()
    return torch.softmax(z.detach(), 1).squeeze(0)


@pytest.mark.parametrize("name", COMPLEMENTARY)
def test_population_minimiser_under_uniform_complements_picks_the_true_class(name):
    # One image of class 2 seen once with each of its complementary labels, in one batch.
    k, true = 4, 2
    comp = torch.tensor([c for c in range(k) if c != true])
    torch.manual_seed(0)
    z = (0.01 * torch.randn(1, k, dtype=torch.float64)).requires_grad_()
    loss = L.make_loss(name, num_classes=k)
    opt = torch.optim.Adam([z], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        loss(z.expand(k - 1, k), comp).backward()
        opt.step()
    p = torch.softmax(z.detach(), 1).squeeze(0)
    assert p.argmax().item() == true
    assert p[true] > 0.9


@pytest.mark.parametrize("name", ["scl-nl", "fwd"])
def test_population_minimiser_recovers_the_clean_posterior(name):
    # An ambiguous image: P(true class) = eta. Uniform complements give P(cbar = c) =
    # (1 - eta_c) / (K - 1); forward correction is proper, so its minimiser is eta itself.
    k = 4
    eta = torch.tensor([0.1, 0.5, 0.3, 0.1], dtype=torch.float64)
    p = _minimise_weighted(name, torch.arange(k), (1 - eta) / (k - 1), k)
    assert p.argmax().item() == 1
    assert torch.allclose(p, eta, atol=2e-3)


# --- sanity training -------------------------------------------------------------------------


def _mixture(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A separable 2-D mixture: 4 unit Gaussians at (+-3, +-3), n points."""
    means = torch.tensor([[3.0, 3.0], [3.0, -3.0], [-3.0, 3.0], [-3.0, -3.0]])
    y = torch.arange(4).repeat_interleave(n // 4)
    return means[y] + torch.randn(len(y), 2, generator=g), y


def train_on_complementary_labels(name: str, *, epochs: int = 60, seed: int = 0) -> float:
    """Train a linear model on uniform complementary labels; return clean test accuracy.

    Clean labels are used only to draw the complementary ones and to measure.
    """
    g = torch.Generator().manual_seed(seed)
    x, y = _mixture(800, g)
    x_test, y_test = _mixture(800, g)
    comp = (y + torch.randint(1, 4, y.shape, generator=g)) % 4  # uniform over the other 3
    assert (comp != y).all()
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 4)
    loss = L.make_loss(name, num_classes=4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(200):
            opt.zero_grad()
            loss(model(x[batch]), comp[batch]).backward()
            opt.step()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


@pytest.mark.parametrize("name", COMPLEMENTARY)
def test_complementary_losses_learn_the_true_class(name):
    assert train_on_complementary_labels(name) >= 0.90


def test_cross_entropy_on_complementary_labels_learns_the_complement():
    assert train_on_complementary_labels("ce") < 0.10  # chance is 0.25


# --- transition.json -------------------------------------------------------------------------


def _write(tmp_path, content) -> str:
    path = tmp_path / "transition.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_transition_json_loads_and_renormalises(tmp_path):
    m = [[0.9, 0.1, 0.0], [0.0, 0.9995, 0.0], [0.1, 0.1, 0.8]]
    path = _write(tmp_path, {"classes": ["a", "b", "c"], "matrix": m})
    t = L.load_transition(path, num_classes=3)
    assert t.shape == (3, 3) and torch.allclose(t.sum(1), torch.ones(3, dtype=t.dtype))
    assert torch.equal(L.load_transition(tmp_path), t)  # the audit folder works too
    loss = L.make_loss("forward", num_classes=3, transition=path)
    assert torch.allclose(loss.transition, t.float())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({"classes": ["a", "b"], "matrix": [[1.0, 0.0], [0.0, 1.0]]}, "is 2x2 but the model has 3"),
        ({"matrix": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}, "must be square"),
        ({"matrix": [[1.0, 0.0], [0.0, 1.0, 0.0]]}, "rectangular array"),
        ({"matrix": [[0.5, 0.4, 0.0], [0, 1, 0], [0, 0, 1]]}, "row 0 sums to 0.9, not 1"),
        ({"matrix": [[1.2, -0.2, 0.0], [0, 1, 0], [0, 0, 1]]}, "negative entry at [0, 1]"),
        ({"classes": ["a", "b"], "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, '"classes" lists 2'),
        ({"classes": ["a", "b", "c"]}, 'has no "matrix"'),
        ("{not json", "is not valid JSON"),
    ],
)
def test_transition_json_errors_are_one_clear_line(tmp_path, content, needle):
    path = _write(tmp_path, content)
    with pytest.raises(NoisylabError) as err:
        L.make_loss("forward", num_classes=3, transition=path)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    assert "transition.json" in msg


def test_transition_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "audit" / "transition.json"
    with pytest.raises(NoisylabError, match="not found") as err:
        L.load_transition(missing)
    assert str(missing) in str(err.value)


@pytest.mark.parametrize(
    ("matrix", "needle"),
    [
        (np.eye(3)[:2], "must be square"),
        (np.full((3, 3), 0.5), "row 0 sums to 1.5"),
        (np.array([[1.0, 0, 0], [0, 1, 0], [0, np.nan, 1]]), "non-finite"),
        (torch.tensor([[1.5, -0.5, 0.0], [0, 1, 0], [0, 0, 1]]), "negative entry at [0, 1]"),
        ([[1.0, 0.0], [0.0, 1.0, 0.0]], "rectangular array"),
    ],
)
def test_transition_arrays_are_checked_too(matrix, needle):
    with pytest.raises(NoisylabError) as err:
        L.load_transition(matrix)
    assert needle in str(err.value)


# --- validation criteria ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "criterion", "mode"),
    [
        ("ce", "noisy-accuracy", "max"),
        ("gce", "noisy-accuracy", "max"),
        ("forward", "forward-nll", "min"),
        ("scl-nl", "complementary-nll", "min"),
        ("scl-exp", "complementary-nll", "min"),
        ("fwd", "forward-nll", "min"),
        ("ure-ga", "complementary-nll", "min"),
        ("pc", "complementary-nll", "min"),
    ],
)
def test_each_loss_has_a_default_criterion_with_an_explicit_direction(name, criterion, mode):
    loss = build(name)
    assert loss.criterion == criterion
    torch.manual_seed(5)
    logits, labels = torch.randn(20, K), torch.randint(0, K, (20,))
    value, got_mode, se = loss.validation_score(logits, labels)
    assert got_mode == mode and math.isfinite(value) and se > 0
    assert L.validation_score(loss, logits, labels)[:2] == (value, mode)


def test_criterion_values():
    logits = torch.tensor(HAND_LOGITS, dtype=torch.float64)
    labels = torch.tensor(HAND_LABELS)
    ce = L.make_loss("ce", num_classes=3)
    assert ce.validation_score(logits, labels)[:2] == (0.5, "max")  # argmax is [0, 1]
    scl = L.make_loss("scl-nl", num_classes=3)
    assert scl.validation_score(logits, labels).value == pytest.approx(_hand("scl-nl"))
    # Predictions [0, 1] hit the complementary label once in two: 1 - (3 - 1) * 1/2 = 0.
    assert scl.validation_score(logits, labels, criterion="ure-accuracy")[:2] == (0.0, "max")
    forward = L.make_loss("forward", num_classes=3, transition=np.eye(3))
    assert forward.validation_score(logits, labels).value == pytest.approx(_hand("ce"))
    by_name = L.validation_score("forward", logits, labels, transition=np.eye(3))
    assert by_name.value == pytest.approx(_hand("ce"))


def test_a_kept_label_costs_forward_nll_at_most_minus_log_keep_rate_but_complementary_nll_grows():
    # A given label that is the true class (an audit's keep rate): the more confidently right the
    # model, the larger its complementary NLL, without bound; under a T that knows the keep rate
    # its forward NLL stays under -log T[i, i]. One such label then cannot decide the epoch.
    keep, k = 0.001, 10
    t = np.full((k, k), (1 - keep) / (k - 1))
    np.fill_diagonal(t, keep)
    scl = L.make_loss("scl-nl", num_classes=k)
    fwd = L.make_loss("forward", num_classes=k, transition=t)
    label = torch.tensor([3])
    comp, forward = [], []
    for margin in (5.0, 10.0, 20.0, 40.0):
        logits = torch.zeros(1, k, dtype=torch.float64)
        logits[0, 3] = margin  # right, and ever more sure
        comp.append(scl.validation_score(logits, label).value)
        forward.append(fwd.validation_score(logits, label).value)
    assert comp == sorted(comp) and comp[-1] > 35
    assert all(v <= -math.log(keep) + 1e-9 for v in forward)
    assert forward[-1] == pytest.approx(-math.log(keep), rel=1e-6)


def test_criterion_must_fit_the_labels():
    logits, labels = torch.randn(4, K), torch.randint(0, K, (4,))
    with pytest.raises(NoisylabError, match="does not fit loss 'ce'"):
        L.make_loss("ce", num_classes=K).validation_score(logits, labels, criterion="ure-ce")
    with pytest.raises(NoisylabError, match="does not fit loss 'scl-nl'"):
        L.make_loss("scl-nl", num_classes=K).validation_score(
            logits, labels, criterion="noisy-accuracy"
        )
    with pytest.raises(NoisylabError, match="unknown validation criterion 'f1'"):
        L.make_loss("ce", num_classes=K).validation_score(logits, labels, criterion="f1")


def test_validation_score_carries_the_standard_error_of_its_mean():
    # Accuracy 0.5 on 2 samples: terms (1, 0), sample std 0.707, SE 0.5.
    logits = torch.tensor(HAND_LOGITS, dtype=torch.float64)
    score = L.make_loss("ce", num_classes=3).validation_score(logits, torch.tensor(HAND_LABELS))
    assert score.se == pytest.approx(0.5)
    many = L.make_loss("scl-nl", num_classes=K).validation_score(
        torch.randn(4000, K, generator=torch.Generator().manual_seed(0)),
        torch.randint(0, K, (4000,), generator=torch.Generator().manual_seed(1)))
    terms = -L._log_one_minus_p(torch.randn(4000, K, generator=torch.Generator().manual_seed(0)),
                                torch.randint(0, K, (4000,),
                                              generator=torch.Generator().manual_seed(1)))
    assert many.se == pytest.approx(float(terms.double().std()) / 4000 ** 0.5, rel=1e-6)


def test_one_se_rule_keeps_a_later_epoch_only_while_it_is_that_close():
    best = L.ValidationScore(1.00, "min", 0.05)
    assert L.ValidationScore(1.04, "min").within_one_se_of(best)
    assert not L.ValidationScore(1.06, "min").within_one_se_of(best)
    top = L.ValidationScore(0.90, "max", 0.02)
    assert L.ValidationScore(0.885, "max").within_one_se_of(top)
    assert not L.ValidationScore(0.87, "max").within_one_se_of(top)
    assert L.ValidationScore(3.0, "min").within_one_se_of(None)
    assert not L.ValidationScore(float("nan"), "min").within_one_se_of(best)
    with pytest.raises(NoisylabError, match="cannot compare"):
        L.ValidationScore(1.0, "max").within_one_se_of(best)


def test_validation_score_improves_on():
    assert L.ValidationScore(0.3, "min").improves_on(None)
    assert L.ValidationScore(0.3, "min").improves_on(L.ValidationScore(0.4, "min"))
    assert not L.ValidationScore(0.3, "max").improves_on(L.ValidationScore(0.4, "max"))
    assert not L.ValidationScore(float("nan"), "min").improves_on(L.ValidationScore(1.0, "min"))
    assert not L.ValidationScore(float("nan"), "min").improves_on(None)


# --- input checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logits", "labels", "needle"),
    [
        (torch.randn(3, K + 1), torch.tensor([0, 1, 2]), f"logits must have shape (B, {K})"),
        (torch.randn(3), torch.tensor([0, 1, 2]), "logits must have shape"),
        (torch.randn(3, K), torch.tensor([0, 1]), "labels must have shape (3,)"),
        (torch.randn(3, K), torch.tensor([0.0, 1.0, 2.0]), "integer class indices"),
        (torch.randn(3, K), torch.tensor([0, 1, K]), f"labels must lie in [0, {K - 1}]"),
        (torch.randn(3, K), torch.tensor([0, -1, 2]), "found -1"),
        (torch.randn(0, K), torch.tensor([], dtype=torch.long), "batch is empty"),
    ],
)
@pytest.mark.parametrize("name", ["ce", "fwd", "ure-ga"])
def test_bad_batches_raise_clear_errors(name, logits, labels, needle):
    with pytest.raises(NoisylabError) as err:
        build(name)(logits, labels)
    assert needle in str(err.value) and f"loss '{name}'" in str(err.value)


def test_losses_follow_the_module_to_another_dtype():
    loss = L.make_loss("fwd", num_classes=3).double()
    assert loss.transition.dtype == torch.float64
    value = loss(torch.tensor(HAND_LOGITS, dtype=torch.float64), torch.tensor(HAND_LABELS))
    assert value.item() == pytest.approx(_hand("fwd"), rel=1e-12)


# ------------------------------------------------------------------------------ pseudo-labels


def test_pseudo_label_adds_ce_on_confident_allowed_class_only():
    from noisylab.losses import PseudoLabel

    base = L.make_loss("scl-nl", num_classes=3)
    pl = PseudoLabel(base, weight=2.0, threshold=0.9)
    logits = torch.tensor([[5.0, 0.0, 0.0],    # confident in 0; given 1 allows it: pseudo 0
                           [5.0, 4.9, 0.0],    # given 0 rules 0 out; over {1, 2}, 1 is ~0.99
                           [0.0, 0.0, 0.0]])   # flat: never a target
    labels = torch.tensor([1, 0, 2])
    expected = base(logits, labels) + 2.0 * (
        torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]), reduction="sum")
        + torch.nn.functional.cross_entropy(logits[1:2], torch.tensor([1]), reduction="sum")) / 3
    assert torch.allclose(pl(logits, labels), expected)


def test_pseudo_label_from_the_clean_view_takes_its_targets_from_the_target_logits():
    from noisylab.losses import PseudoLabel

    base = L.make_loss("scl-nl", num_classes=3)
    pl = PseudoLabel(base, weight=1.0, threshold=0.9, view="clean")
    assert pl.needs_clean_view and not PseudoLabel(base).needs_clean_view
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])  # the augmented view
    clean = torch.tensor([[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])   # sure of 1 / flat
    labels = torch.tensor([2, 1])
    # Row 0: the clean view is sure of class 1, so the augmented logits are pulled towards 1
    # although they are flat; row 1: the clean view is flat, so no target although the
    # augmented view is sure.
    expected = base(logits, labels) + torch.nn.functional.cross_entropy(
        logits[:1], torch.tensor([1]), reduction="sum") / 2
    assert torch.allclose(pl(logits, labels, target_logits=clean), expected)
    # Without target logits it is the ordinary pseudo-label: row 1 becomes the target 0.
    plain = base(logits, labels) + torch.nn.functional.cross_entropy(
        logits[1:], torch.tensor([0]), reduction="sum") / 2
    assert torch.allclose(pl(logits, labels), plain)


def test_pseudo_label_refuses_an_unknown_view_and_mismatched_target_logits():
    from noisylab.losses import PseudoLabel

    base = L.make_loss("scl-nl", num_classes=3)
    with pytest.raises(NoisylabError, match="unknown pseudo-label view 'weak'"):
        PseudoLabel(base, view="weak")
    with pytest.raises(NoisylabError, match="target logits of shape"):
        PseudoLabel(base, view="clean")(torch.zeros(2, 3), torch.tensor([0, 1]),
                                        target_logits=torch.zeros(3, 3))
