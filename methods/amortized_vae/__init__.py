"""Amortized VAEs of the Poisson-VAE paper (Vafaii, Galor & Yates, NeurIPS 2024), METHODS.md §1:
``pvae`` (Poisson), ``cvae`` (categorical), ``gvae`` and ``gvae_relu`` (Gaussian), ``lvae``
(Laplace).

An encoder maps x to posterior parameters, a reparameterized code is decoded, and the loss is
sse + β·KL. The shared network, loss, training loop and inference are in :mod:`.base`, the
architectures (``arch`` = ``enc|dec``) in :mod:`.architectures`, one module per posterior family.
The distribution math (KLs, samplers, soft clamps) is in :mod:`brainlike_suite.methods.distributions`.
"""
from . import categorical, gaussian, laplace, poisson  # noqa: F401  (importing registers them)
