"""A toy method for the engine's tests: a random relu projection, with knobs to fail or stall."""
import time

import torch

from suite.capabilities import LinearDictionary
from suite.hparams import Choice, NonNegative, Positive
from suite.method import Inference, Method
from suite.registry import register
from suite.seeding import seeded
from suite.training import check_finite


@register
class ToyProjection(Method, LinearDictionary):
    """codes = relu(W x) for a seeded random W, recon = codes·W (tests only)."""

    name = "toy"
    family = "other"
    data_kinds = frozenset({"continuous"})
    hparams = {
        "scale": Positive(1.0, "scale of W"),
        "fail": Choice("never", ("never", "fit", "nan"), "raise during fit, or produce a NaN loss"),
        "sleep": NonNegative(0.0, "seconds to sleep in fit (to test killing a run)"),
    }

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        with seeded(self.seed, self.device):
            self.weight = torch.randn(self.n_latents, self.dim, device=self.device)
        self.weight *= self.hp["scale"] / self.dim ** 0.5

    def fit(self, train, budget, progress, val=None):
        time.sleep(self.hp["sleep"])
        if self.hp["fail"] == "fit":
            raise RuntimeError("toy failure requested")
        with progress(total=1, desc="fit") as bar:
            loss = torch.tensor(float("nan")) if self.hp["fail"] == "nan" else train.pow(2).mean()
            check_finite(loss, 0, self.name)
            bar.update(1)
        self.weight = self.weight + 0.01 * torch.randn(self.weight.shape, generator=self.generator,
                                                       device=self.device)
        self.n_steps_ = 1  # one update, whatever the budget
        return self

    def infer(self, x):
        codes = torch.relu(x @ self.weight.T)
        return Inference(codes=codes, recon=codes @ self.weight)

    def dictionary(self):
        return self.weight


@register
class ToyProjection2(ToyProjection):
    """A second toy method (tests of grids with several methods)."""

    name = "toy2"
