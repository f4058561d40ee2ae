"""The suite is a library: ``pip install .`` (not editable) gives a working suite in any folder.

The built-in methods, datasets and settings are the packages ``brainlike_suite.methods``,
``brainlike_suite.datasets`` and ``brainlike_suite.configs`` (pyproject.toml maps the checkout's
folders to them) and register through the same entry-point groups as a third-party plugin.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = {"methods": "brainlike_suite.methods", "datasets": "brainlike_suite.datasets",
               "configs": "brainlike_suite.configs"}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def package_folders() -> set[str]:
    """The import name of every folder of the checkout that is a package."""
    names = set()
    for top in ("suite", "reports", *PACKAGE_DIR):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            head = PACKAGE_DIR.get(rel[0], rel[0])
            names.add(".".join((head, *rel[1:])))
    return names


def test_every_package_folder_is_packaged():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    assert package_folders() == listed, (
        "pyproject.toml [tool.setuptools] packages must list exactly the package folders: "
        f"missing {sorted(package_folders() - listed)}, extra {sorted(listed - package_folders())}")


def test_builtins_register_through_the_public_entry_point_groups():
    from suite.registry import BUILTIN_PACKAGES, ENTRY_POINT_GROUPS

    entry_points = pyproject()["project"]["entry-points"]
    for kind, group in ENTRY_POINT_GROUPS.items():
        assert BUILTIN_PACKAGES[kind] in entry_points[group].values()


def test_no_core_module_reaches_the_checkout_by_path():
    """The engine finds its plugins and settings through imports, never through ``suite/..``."""
    offenders = []
    for path in (ROOT / "suite").rglob("*.py"):
        text = path.read_text()
        for needle in ("REPO_ROOT", "suite_plugins", "PYTHONPATH\"] =", "parent.parent / \"configs\""):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders


@pytest.fixture(scope="module")
def installed_suite(tmp_path_factory) -> Path:
    """A fresh virtual environment with the suite installed from a wheel of the checkout
    (dependencies such as torch come from this interpreter's site-packages)."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"  # a clean copy: a build/ folder left in the checkout could add stale files
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("git is needed to copy the checkout's files")
    for rel in listed.stdout.splitlines():
        if (ROOT / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, source / rel)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp / "wheel"), str(source)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr[-500:]}")
    env_dir = tmp / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    wheel = next((tmp / "wheel").glob("brainlike_suite-*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True)
    return env_dir


def run_installed(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(env_dir / "bin" / "brainlike-suite"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_installed_suite_lists_every_method_and_dataset_from_another_folder(installed_suite, tmp_path):
    where = subprocess.run([str(installed_suite / "bin" / "python"), "-c",
                            "import json, suite, brainlike_suite.methods as m, brainlike_suite.configs as c; "
                            "print(json.dumps([suite.__file__, m.__file__, c.__file__]))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    for path in json.loads(where.stdout):
        assert str(installed_suite) in path and str(ROOT) not in path  # the installed copy, not the checkout
    listed = run_installed(installed_suite, tmp_path, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("pvae", "cvae", "gvae", "gvae_relu", "lvae", "ipvae", "igvae", "igvae_relu", "lca", "ista",
                 "fista", "bihm", "nat16", "nat16-pvae", "digits", "digits-bin"):
        assert f"\n{name} " in listed.stdout, f"{name} missing from --list:\n{listed.stdout}"
    assert "Unavailable plugins" not in listed.stdout


def test_installed_suite_runs_every_method_from_another_folder(installed_suite, tmp_path):
    out = tmp_path / "results"
    for methods, dataset in (("all", "digits"), ("bihm", "digits-bin")):  # bihm models binary data only
        done = run_installed(installed_suite, tmp_path, "--profile", "smoke", "--methods", methods, "--dataset",
                             dataset, "--out", str(out), "--no-progress", "--cache-dir", str(tmp_path / "cache"))
        assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    ran = {r["spec"]["method"] for r in records if r["status"] == "ok"}
    assert ran == {"pvae", "cvae", "gvae", "gvae_relu", "lvae", "ipvae", "igvae", "igvae_relu", "lca", "ista",
                   "fista", "bihm"}
    assert (out / "reports" / "leaderboard_digits_smoke.md").exists()
