"""The registered ``bihm`` method: visible units, inference fields, training, early stopping,
persistence, likelihood report and the sample figure."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from helmholtz_helpers import bihm, exact, rate, tiny_model
from progress_recorder import RecordingProgress
from suite.config import load_method_configs, load_profile, settings_for
from suite.data.loading import load_dataset
from suite.errors import DataError, HyperparameterError, UnknownNameError
from suite.method import Budget
from suite.registry import create_method
from threads import one_thread  # noqa: F401  (autouse fixture)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMOKE = bihm.BiHM.smoke_hparams


def _data(kind: str, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":
        return (torch.rand(n, 64, generator=g) < 0.3).float()
    return torch.randn(n, 64, generator=g)


def _method(n_latents: int = 6, seed: int = 0, **hparams) -> "bihm.BiHM":
    return create_method("bihm", (1, 8, 8), n_latents, seed=seed, **{**SMOKE, **hparams})


def test_visible_units_follow_the_training_data():
    m = _method().fit(_data("binary", 64), Budget(epochs=1))
    assert not m.net.gaussian_visible and m.dictionary() is None
    g = _method().fit(_data("continuous", 64), Budget(epochs=1))
    assert g.net.gaussian_visible
    w = g.dictionary()
    assert w.shape == (6, 64) and torch.equal(w, g.net.p_layers[0].linear.weight.detach().t())
    with pytest.raises(DataError, match="visible='bernoulli' needs binary"):
        _method(visible="bernoulli").fit(_data("continuous", 64), Budget(epochs=1))
    with pytest.raises(DataError, match="cannot continue"):
        m.fit(_data("continuous", 64), Budget(epochs=1))


def test_initialization_follows_the_original_code():
    """Weights U(±a), a = Glorot bound / fan_in; every Bernoulli bias (top prior included) −1."""
    m = _method(upper_layers=[5, 4])
    for layer in [*m.net.p_layers, *m.net.q_layers]:
        fan_out, fan_in = layer.linear.weight.shape
        a = math.sqrt(6.0 / (fan_in + fan_out)) / fan_in
        w = layer.linear.weight.detach()
        assert 0.5 * a < float(w.abs().max()) <= a
        assert torch.all(layer.linear.bias == -1.0)
    assert torch.all(m.net.top.bias == -1.0)
    g = _method(visible="gaussian").net.p_layers[0]
    assert torch.all(g.linear.bias == 0.0) and torch.all(g.log_sigma == 0.0)


def test_hyperparameters_are_validated():
    with pytest.raises(HyperparameterError, match="upper_layers must be a list of positive integers"):
        _method(upper_layers=[4, 0])
    with pytest.raises(UnknownNameError, match="n_sample"):
        _method(n_sample=3)
    assert _method(upper_layers=[]).net.sizes == [64, 6]  # a single hidden layer is allowed


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_inference_fields(kind):
    x = _data(kind, 96)
    m = _method().fit(x[:64], Budget(epochs=1), val=x[64:])
    inf = m.infer(x[64:])
    inf.validate(32, 6, 64)
    assert set(inf.codes.unique().tolist()) <= {0.0, 1.0}
    probs = m.net.q_h1_probs(x[64:]).detach()
    assert torch.equal(inf.features, probs)
    expected_recon = m.net.visible_mean(probs if kind == "continuous" else inf.codes)
    assert torch.allclose(inf.recon, expected_recon)
    assert torch.allclose(inf.unit_rate, rate.bernoulli_kl(probs, m.h1_marginal()))
    assert (inf.unit_rate >= 0).all()
    assert m.dead_unit_rule == "feature_std"


def test_h1_marginal_matches_enumeration():
    net = tiny_model()
    hs = exact.hidden_states(net)
    with torch.no_grad():
        log_p_h = sum(net.log_p_terms([torch.zeros(1, 5, dtype=torch.float64)] + hs)[1:])
    exact_m = (log_p_h.exp()[:, None] * hs[0]).sum(0)
    m = rate.h1_marginal(net, 200000, torch.Generator().manual_seed(0), max_rows=50000)
    assert torch.allclose(m, exact_m, atol=4 * 0.5 / math.sqrt(200000))
    one_layer = tiny_model(sizes=(5, 3))
    assert torch.equal(rate.h1_marginal(one_layer, 10, torch.Generator()), one_layer.top.mean())


def test_kl_of_bernoulli_matches_definition():
    q, m = torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0.3, 0.5, 0.2])
    ref = q * torch.log(q / m) + (1 - q) * torch.log((1 - q) / (1 - m))
    assert torch.allclose(rate.bernoulli_kl(q, m), ref)


def test_evaluate_extra_reports_ordered_likelihoods_deterministically():
    x = _data("binary", 96)
    m = _method(eval_samples=50, z_samples=2000).fit(x[:64], Budget(epochs=2))
    out = m.evaluate_extra(x[64:])
    assert set(out) == {"nll", "nll_se", "nll_tilde", "nll_tilde_se", "nll_p", "nll_p_se", "log_z2",
                        "log_z2_se", "rate_total", "nll_samples", "z2_samples"}
    assert out["nll_samples"] == 50 and out["z2_samples"] == 2000
    assert out["log_z2"] < 0 and out["nll"] < out["nll_tilde"] and out["nll_p"] <= out["nll_tilde"]
    assert math.isclose(out["nll"], out["nll_tilde"] + out["log_z2"])
    assert all(math.isfinite(v) for v in out.values()) and out["rate_total"] > 0
    assert m.evaluate_extra(x[64:]) == out


def test_fit_is_deterministic_and_state_dict_round_trips_the_visible_kind():
    x = _data("continuous", 96)
    a = _method(seed=3).fit(x[:64], Budget(epochs=2), val=x[64:])
    b = _method(seed=3).fit(x[:64], Budget(epochs=2), val=x[64:])
    for (name, pa), pb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert torch.equal(pa, pb), name
    fresh = _method(seed=3)  # built with Bernoulli visible units until it sees the checkpoint
    fresh.load_state_dict(a.state_dict())
    assert fresh.net.gaussian_visible
    assert torch.equal(fresh.infer(x[64:]).features, a.infer(x[64:]).features)
    assert fresh.evaluate_extra(x[64:]) == a.evaluate_extra(x[64:])


def test_early_stopping_keeps_the_best_validation_bound():
    x = _data("binary", 384)
    m = _method(lr=0.05, patience=2, batch_size=64, n_samples=4)
    progress = RecordingProgress()
    m.fit(x[:256], Budget(epochs=60), progress=progress, val=x[256:])
    scores = [p["val_log_p_tilde_star"] for p in progress.bars[0].postfixes]
    best = max(scores)
    assert len(scores) < 60  # it stopped early ...
    assert max(scores[:-2]) == best and all(s <= best for s in scores[-2:])  # ... after 2 stale epochs
    assert m.validation_bound(x[256:]) == best  # and kept the best parameters


def _quick_settings(dataset: str) -> dict:
    return settings_for("bihm", dataset, "quick", load_profile("quick"), load_method_configs(), {})


def test_quick_training_improves_the_validation_bound_on_binarized_data():
    """The quick profile's model on a subset of binarized MNIST (the real files when present,
    else the dynamic binarization of scikit-learn's digits)."""
    if (SHARED_DATA / "binarized_mnist").is_dir():
        ds, margin = load_dataset("bMNIST", data_dir=SHARED_DATA), 50.0
    else:
        ds, margin = load_dataset("digits-bin"), 5.0
    s = _quick_settings(ds.name)
    m = create_method("bihm", ds.shape, s["n_latents"], seed=0, **s["hparams"])
    train, val = ds.train[:3000], ds.val[:500]
    before = m.validation_bound(val)
    m.fit(train, Budget(epochs=2), val=val)
    assert m.validation_bound(val) > before + margin


def test_sample_grid_writes_a_png(tmp_path):
    x = load_dataset("digits-bin").train[:200]
    m = _method().fit(x, Budget(epochs=1))
    path = m.sample_grid(tmp_path / "figs" / "samples.png", n=16, sweeps=2, proposals=4, n_inner=2)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
