"""The example method of README.md ("Adding a method") passes the conformance battery.

The code block between ``<!-- example-method:start -->`` and ``<!-- example-method:end -->`` is
taken from README.md as it stands (so this test breaks when the README drifts), written as a
plugin file into a folder of its own, discovered like any ``--plugins`` folder, and checked with
:func:`suite.testing.check_method`, as a plugin author would.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from suite import registry
from suite.testing import check_method

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- example-method:start -->\s*```python\n(.*?)```\s*<!-- example-method:end -->",
                   re.DOTALL)


def readme_example() -> str:
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, ("README.md must hold exactly one ```python block between "
                             "<!-- example-method:start --> and <!-- example-method:end -->")
    return found[0]


@pytest.fixture(scope="module")
def example_class(tmp_path_factory):
    """The README's method class, registered from a temporary plugin folder (and unregistered
    afterwards, so that tests listing every method do not see it)."""
    saved = [(r, dict(r._items), dict(r._origin)) for r in (registry.METHODS, registry.DATASETS)]
    failures = list(registry._failures)
    folder = tmp_path_factory.mktemp("readme_plugin")
    (folder / "methods").mkdir()
    (folder / "methods" / "readme_example.py").write_text(readme_example(), encoding="utf-8")
    registry.discover([folder])
    package = registry.plugin_package(folder / "methods", "methods") + "."
    broken = [f for f in registry.unavailable() if str(folder.resolve()) in f.origin]
    assert not broken, f"the README example does not import: {broken[0].error}\n{broken[0].details}"
    found = [cls for _, cls in registry.METHODS.items() if cls.__module__.startswith(package)]
    assert len(found) == 1, f"the README example must register one method, it registered {found}"
    yield found[0]
    for r, items, origin in saved:
        r._items.clear(), r._items.update(items)
        r._origin.clear(), r._origin.update(origin)
    registry._failures[:] = failures


def test_readme_example_is_found():
    code = readme_example()
    assert "@register" in code and "def fit" in code and "def infer" in code


def test_readme_example_passes_the_battery(example_class, request):
    device = request.config.getoption("--device", default="cpu")
    results = check_method(example_class, device=device)
    assert any(r.check.startswith("check_checkpoint_fresh_instance") and r.status == "pass"
               for r in results)
