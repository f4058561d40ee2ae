"""reports/index.html in a real browser: headless Chromium driven by Selenium.

One store per module: a smoke grid on ``digits`` that has every kind of figure (sparse coding,
an amortized VAE and an iterative VAE, two seeds: error bars, convergence traces; then ``gap``:
the amortization gap), one method of a temporary plugin folder that raises in ``fit`` (failed
runs), and a reproduction scorecard. The page must load from ``file://`` with no console error,
show every leaderboard row, sort on a header click, load every image, filter rows, hide column
groups and open a failed run's error. A screenshot is saved under the test's temporary folder
(its path is printed). Skips, with the reason, where Selenium or Chromium and its driver are
not installed (CI installs them: ``.ci/run``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import reports
from reports.collect import ReportContext
from reports.page import section_id
from reports.terminal import WIDTH

REPO = Path(__file__).resolve().parents[1]
BROKEN_PLUGIN = '''"""A method whose fit always raises (the report's failed-run view)."""
from suite.method import Method
from suite.registry import register


@register
class Broken(Method):
    """Raises in fit, always."""

    name = "broken"
    family = "other"

    def fit(self, train, budget, progress, val=None):
        raise RuntimeError("broken on purpose: fit always raises")

    def infer(self, x):
        raise NotImplementedError
'''
ERROR = "broken on purpose: fit always raises"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver",
           "/usr/lib/chromium-browser/chromedriver")


def _which(names) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK)
                                       else None)
        if found:
            return found
    return None


def _suite(*argv: str, ok=(0,)) -> str:
    done = subprocess.run([sys.executable, "run_suite.py", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode in ok, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    """``(browser, driver)`` paths; skips (before the store is built) where either is missing."""
    pytest.importorskip("selenium.webdriver",
                        reason="selenium is not installed (pip install -e '.[browser]')")
    binary, driver_path = _which(CHROMIUM), _which(DRIVERS)
    if not binary or not driver_path:
        pytest.skip("Chromium and its WebDriver are not installed (Debian: apt-get install "
                    f"chromium chromium-driver); found browser={binary}, driver={driver_path}")
    return binary, driver_path


@pytest.fixture(scope="module")
def store(chromium, tmp_path_factory):
    """``(out, stdout of the run)``: the smoke store described above, with its report."""
    root = tmp_path_factory.mktemp("browser")
    (root / "plugins" / "methods").mkdir(parents=True)
    (root / "plugins" / "methods" / "broken.py").write_text(BROKEN_PLUGIN)
    out = root / "results"
    stdout = _suite("--profile", "smoke", "--methods", "lca,fista,pvae,ipvae,broken",
                    "--dataset", "digits", "--seeds", "0,1", "--plugins", str(root / "plugins"),
                    "--out", str(out), "--no-progress", ok=(1,))        # 1: the failed runs
    _suite("gap", "--out", str(out), "--methods", "pvae,ipvae")
    _write_scorecard(out)
    reports.build(out)
    return out, stdout


def _write_scorecard(out: Path) -> None:
    from suite.reproduce.scorecard import Row, write_scorecard

    repro = out / "reports" / "reproduction"
    (repro / "figures").mkdir(parents=True, exist_ok=True)
    png = next((out / "reports" / "figures").glob("sparsity_vs_sse_*.png"))
    shutil.copy(png, repro / "figures" / "C1.png")
    rows = [Row("C1", "a claim about sparsity", "0.8", "paper, Fig. 3", "0.78", "|d| < 0.1",
                "holds", "", None, 0.5, str(repro / "figures" / "C1.png"), {})]
    write_scorecard(rows, repro, {"command": "reproduce (test)", "profile": "smoke"})


@pytest.fixture(scope="module")
def browser(chromium, store):
    """A headless Chromium on the store's ``index.html``, and the console log of the load."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as exc:  # a browser that cannot start here (no display libraries, ...)
        pytest.skip(f"Chromium could not start: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    out, _ = store
    driver.get((out / "reports" / "index.html").resolve().as_uri())
    log = driver.get_log("browser")
    yield driver, log
    driver.quit()


def _by():
    from selenium.webdriver.common.by import By

    return By


def _labels(table) -> list[str]:
    rows = table.find_elements(_by().CSS_SELECTOR, "tbody tr")
    return [r.get_attribute("data-label") for r in rows]


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_run_printed_a_leaderboard_that_fits_120_columns(store):
    _, stdout = store
    table = stdout[stdout.index("Leaderboard: digits"):stdout.index("Tables and figures")]
    assert max(len(line) for line in table.splitlines()) <= WIDTH, table
    assert "index.html" in stdout


def test_page_loads_without_console_errors(browser):
    driver, log = browser
    severe = [entry for entry in log + driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe
    assert driver.title == "brainlike-suite report"


def test_every_leaderboard_has_its_rows(browser, store):
    driver, _ = browser
    out, _ = store
    ctx = ReportContext.from_store(out, out / "reports")
    pairs = list(ctx.per_dataset())
    assert pairs
    for dataset, profile, table in pairs:
        element = driver.find_element(_by().ID, f"lb-{section_id(dataset, profile)}")
        assert _labels(element) == list(table.meta["config"])
    ranking = driver.find_element(_by().ID, "ranking-table")
    assert sorted(_labels(ranking)) == sorted(ctx.table.meta["config"])


def test_clicking_a_column_header_reorders_the_rows(browser, store):
    driver, _ = browser
    out, _ = store
    ctx = ReportContext.from_store(out, out / "reports")
    dataset, profile, table = next(ctx.per_dataset())
    element = driver.find_element(_by().ID, f"lb-{section_id(dataset, profile)}")
    header = next(th for th in element.find_elements(_by().CSS_SELECTOR, "thead tr:last-child th")
                  if th.text.strip() == "sse")
    by_sse = list(table.meta["config"][table.mean["sse"].argsort(kind="stable")])
    _click(driver, header)
    assert header.get_attribute("aria-sort") == "ascending"
    assert _labels(element) == by_sse
    _click(driver, header)
    assert header.get_attribute("aria-sort") == "descending"
    assert _labels(element) == by_sse[::-1]


def test_every_image_has_loaded(browser, store):
    driver, _ = browser
    out, _ = store
    states = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);")
    figures = list((out / "reports" / "figures").glob("*.png"))
    assert len(states) == len(figures) + 1                       # + the scorecard's figure
    assert {f.name.split("_digits")[0] for f in figures} >= {
        "dictionary", "sparsity_vs_sse", "rate_distortion", "convergence", "amortization_gap"}
    broken = [alt for alt, complete, width in states if not complete or width == 0]
    assert not broken, broken


def test_filters_and_column_groups(browser):
    driver, _ = browser
    By = _by()
    box = driver.find_element(By.ID, "filter-method")
    box.send_keys("vae")
    board = driver.find_element(By.CSS_SELECTOR, "table.leaderboard")
    shown = [r.get_attribute("data-label") for r in board.find_elements(By.CSS_SELECTOR, "tbody tr")
             if r.is_displayed()]
    assert shown and all("vae" in label for label in shown)
    box.clear()
    box.send_keys(" ")                                           # an input event: filter off
    group = driver.find_element(By.CSS_SELECTOR, "input[data-group='distortion']")
    _click(driver, group)
    assert not board.find_element(By.CSS_SELECTOR, "th.g-distortion").is_displayed()
    _click(driver, group)
    assert board.find_element(By.CSS_SELECTOR, "th.g-distortion").is_displayed()


def test_a_failed_runs_details_show_its_error(browser, tmp_path, capsys):
    driver, _ = browser
    By = _by()
    link = driver.find_element(By.CSS_SELECTOR, "ul.failures a")
    _click(driver, link)
    details = driver.find_element(By.CSS_SELECTOR, "details.run.failed")
    assert details.get_attribute("open") is not None
    assert ERROR in details.find_element(By.CSS_SELECTOR, "pre.error").text
    assert "Traceback" in details.find_element(By.CSS_SELECTOR, "pre.traceback").text
    time.sleep(0.1)
    shot = tmp_path / "report.png"
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 120, 12000))
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 0
    driver.set_window_size(1400, 1000)
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe                                    # none while clicking around
    with capsys.disabled():
        print(f"\nscreenshot of the report: {shot}")
