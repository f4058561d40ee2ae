"""``python run_suite.py prepare NAME (--from DIR | --download)``: get or build a dataset's files.

- ``--download`` fetches the dataset's published files into the data folder, verifies their
  SHA-256 checksums, and runs the source's post-download step (e.g. building ``CIFAR16``
  patches from the CIFAR-10 archive). It is the only command of the suite that uses the network.
- ``--from DIR`` builds the dataset from files the user already has: raw van Hateren images
  for ``vH16``, the CIFAR-10 python batches for ``CIFAR16``, the IDX / ``.amat`` files for
  ``MNIST`` / ``bMNIST`` (checked, then copied into the data folder).
- ``--recipe NAME`` (``vH16``, ``CIFAR16``): the patch recipe to build with, one of
  :data:`suite.data.preprocess.RECIPES`; the default is ``pvae-reference``, the P-VAE papers' own
  preprocessing, so that a built file matches the authors' ``processed.npy`` in distribution.
  The recipe's name and fields are recorded in the file's ``processed.json``.

Derived datasets (``MNIST-bin``) prepare their parent; embedded ones need nothing.
The data folder is ``--data-dir``, else ``$BRAINLIKE_DATA_DIR``, else ``~/Datasets``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from .sources import DATA_DIR_ENV, resolve_data_dir
from ..errors import ConfigError, DataError
from .filesource import FileDatasetSource, prepare_command
from .patchbuild import RecipeBuilder
from .preprocess import RECIPES, recipe_named
from ..progress import ProgressFactory, tqdm_progress


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def prepare(name: str, *, data_dir: str | Path | None, from_dir: str | Path | None = None,
            download: bool = False, seed: int = 0, recipe: str | None = None,
            progress: ProgressFactory = tqdm_progress,
            log: Callable[[str], None] = _stderr) -> list[Path]:
    """Get (``download``) or build (``from_dir``) the files of dataset ``name``; return them.

    data_dir: the data folder (None: ``$BRAINLIKE_DATA_DIR``, else ``~/Datasets``);
    seed: seeds the builders' random choices (held-out images, patch positions);
    recipe: the name of the patch recipe (:data:`suite.data.preprocess.RECIPES`) of a patch
    dataset's builder (None: the builder's default, ``pvae-reference``); a :class:`DataError`
    lists the valid names, a :class:`ConfigError` says when the dataset has no patch recipe.
    Raises :class:`ConfigError` for a wrong combination of options and :class:`DataError`
    when the files cannot be got or built.
    """
    from ..registry import DATASETS

    source = DATASETS.get(name)
    ddir = resolve_data_dir(data_dir)
    if from_dir is not None and download:
        raise ConfigError("prepare: give either --from DIR or --download, not both")
    chosen = recipe_named(recipe) if recipe is not None else None
    parent = source.derived_from
    if parent:
        log(f"{name} is derived from {parent} at load time: preparing {parent}.")
        return prepare(parent, data_dir=ddir, from_dir=from_dir, download=download, seed=seed,
                       recipe=recipe, progress=progress, log=log)
    if chosen is not None:
        if not isinstance(source, RecipeBuilder):
            builders = [n for n, s in DATASETS.items() if isinstance(s, RecipeBuilder)]
            raise ConfigError(f"prepare {name}: --recipe applies only to the patch datasets built "
                              f"here ({', '.join(builders)}); {name} has no patch recipe"
                              + (" (it is embedded, with a fixed recipe"
                                 + ("; nat16-pvae is nat16 with the pvae-reference recipe"
                                    if name == "nat16" else "") + ")" if source.embedded else ""))
        source = source.with_recipe(chosen)
    if source.embedded:
        log(f"{name} is embedded: it is built from installed packages on first use; nothing to prepare.")
        return []
    if not isinstance(source, FileDatasetSource):
        raise DataError(f"dataset {name!r} ({type(source).__name__}) does not support `prepare`; "
                        "see its documentation for how to get its files")
    if download:
        written = source.download(ddir, seed, progress=progress)
    elif from_dir is not None:
        from_dir = Path(from_dir).expanduser()
        if not from_dir.is_dir():
            raise DataError(f"--from {from_dir}: no such folder")
        written = source.build(from_dir, ddir, seed, progress=progress)
    else:
        cmds = source.prepare_commands(ddir) or [prepare_command(name, ddir, "--from DIR")]
        raise ConfigError(f"prepare {name}: say where the files come from, e.g.\n  " + "\n  ".join(cmds))
    available = source.availability(ddir)
    if not available.ok:  # a builder that wrote somewhere the loader does not look: a bug
        raise DataError(f"prepare {name}: files were written but the dataset is still missing: "
                        f"{available.detail}")
    built_with = f"; patch recipe {source.recipe.name!r}" if isinstance(source, RecipeBuilder) else ""
    log(f"{name} is ready in {ddir} ({available.detail}{built_with}).")
    return written


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``run_suite.py prepare``."""
    parser.add_argument("dataset", help="dataset name (see --list), e.g. vH16, CIFAR16, MNIST, bMNIST")
    parser.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                        help="build from files you have: raw van Hateren images (.iml/.imc/TIFF/PNG/JPEG) "
                             "for vH16, the CIFAR-10 python batches (or their .tar.gz) for CIFAR16, "
                             "the IDX files for MNIST, the .amat files for bMNIST")
    parser.add_argument("--download", action="store_true",
                        help="download the published files and verify their SHA-256 checksums "
                             "(the only command that uses the network)")
    parser.add_argument("--data-dir", default=None,
                        help=f"data folder to write into (default: ${DATA_DIR_ENV}, else ~/Datasets)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the builders' random choices: held-out images, patch positions "
                             "(default: 0)")
    parser.add_argument("--recipe", default=None, choices=sorted(RECIPES), metavar="NAME",
                        help="patch recipe of vH16 / CIFAR16 builds, one of: "
                             + ", ".join(sorted(RECIPES)) + " (default: pvae-reference, the P-VAE "
                             "papers' preprocessing; nat16 is whitening only; pvae-corrected has "
                             "the whitening filter the papers describe)")


def run_prepare(args: argparse.Namespace) -> int:
    """Handler of the ``prepare`` command: prepare, print the files written, exit status 0."""
    for path in prepare(args.dataset, data_dir=args.data_dir, from_dir=args.from_dir,
                        download=args.download, seed=args.seed,
                        recipe=getattr(args, "recipe", None)):
        print(path)
    return 0
