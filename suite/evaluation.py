"""Evaluation of a trained method on the validation split, the same way for every method.

The method only infers (:meth:`Method.infer` on batches, without gradients); the metrics come
from :func:`suite.metrics.evaluate`. Method-specific quantities the protocol asks for
(likelihoods) come from :meth:`Method.evaluate_extra`, on the validation split and, when the
dataset has one and the profile asks, on the test split (stored with a ``test_`` prefix).

``max_val`` subsets of either split are seeded random subsets (:func:`suite.subsets.subset_indices`,
the seed derived from the run seed), never the first rows; labels follow the same indices.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import torch
from torch import Tensor

from .capabilities import LinearDictionary
from .data.sources import Dataset
from .method import Inference, Method
from .seeding import derive_seed
from .settings import EvalSettings
from .subsets import subset_indices


def infer_all(method: Method, x: Tensor, batch_size: int) -> Inference:
    """``method.infer`` over ``x`` (N, D) in batches, under ``torch.no_grad()``; results on the CPU."""
    parts = []
    with torch.no_grad():
        for start in range(0, x.shape[0], max(1, int(batch_size))):
            inf = method.infer(x[start:start + batch_size])
            inf.validate(min(batch_size, x.shape[0] - start), method.n_latents, method.dim)
            parts.append(inf)
    return Inference.concat(parts)


def validation_subset(ds: Dataset, max_val: int | None, seed: int) -> tuple[Tensor, Tensor | None]:
    """A seeded random subset of ``max_val`` validation samples (all when None), in split order,
    and their labels (the same rows). Half comes from each half of the split, so the few-shot
    KNN's pool and test halves of the subset lie in the split's own halves (:mod:`suite.subsets`).
    The same ``seed`` (the run seed) gives the same rows."""
    idx = subset_indices(ds.val.shape[0], max_val, derive_seed(seed, "validation subset"))
    if idx is None:
        return ds.val, ds.val_labels
    labels = ds.val_labels[idx.to(ds.val_labels.device)] if ds.val_labels is not None else None
    return ds.val[idx.to(ds.val.device)], labels


def subset_of_test_split(ds: Dataset, max_val: int | None, seed: int) -> Tensor | None:
    """A seeded random subset of ``max_val`` samples of the test split (all when None); None
    when the dataset has no test split."""
    if ds.test is None:
        return None
    idx = subset_indices(ds.test.shape[0], max_val, derive_seed(seed, "test subset"))
    return ds.test if idx is None else ds.test[idx.to(ds.test.device)]


def evaluate_method(method: Method, ds: Dataset, settings: "EvalSettings | Mapping", seed: int,
                    ) -> tuple[dict, dict]:
    """Metrics dict and per-unit arrays of ``method`` on ``ds``'s validation split.

    ``settings``: the run's :class:`~suite.settings.EvalSettings` (or its ``eval`` mapping)."""
    from .metrics import evaluate

    settings = EvalSettings.from_mapping(settings)
    x, labels = validation_subset(ds, settings.max_val, seed)
    t0 = time.perf_counter()
    inf = infer_all(method, x, settings.infer_batch_size)
    infer_seconds = time.perf_counter() - t0
    metrics, arrays = evaluate(
        inf, x.detach().cpu(), labels,
        knn_sizes=ds.knn_sizes if labels is not None else (),
        knn_draws=settings.knn_draws, seed=seed,
        dead_kl_threshold=settings.dead_kl_threshold,
        dead_unit_rule=method.dead_unit_rule)
    metrics["infer_seconds"] = infer_seconds
    metrics["infer_samples_per_second"] = x.shape[0] / max(infer_seconds, 1e-9)
    metrics["n_val"] = int(x.shape[0])
    with torch.no_grad():
        metrics.update(method.evaluate_extra(x))
        if ds.test is not None and settings.extra_on_test:
            test = subset_of_test_split(ds, settings.max_val, seed)
            metrics.update({f"test_{k}": v for k, v in method.evaluate_extra(test).items()})
    d = method.dictionary() if isinstance(method, LinearDictionary) else None
    if d is not None:  # None: no linear dictionary for this configuration
        arrays["dictionary"] = d.detach().cpu().numpy().astype(np.float32)
    arrays["data_shape"] = np.asarray(ds.shape, dtype=np.int64)
    return metrics, arrays
