"""The one-page report (reports/index.html), the figure formats, the ranking and the terminal view.

Built from hand-written stores (``test_reports``'s helpers), no browser: the page is
self-contained (no external resource), holds every leaderboard row, marks unconverged rows,
shows failed runs' errors, is byte-identical when rebuilt, and loses the files of runs that left
the store. ``tests/test_report_browser.py`` drives the same page in Chromium.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import reports
from suite.errors import ConfigError
from reports.collect import ReportContext
from reports.ranking import ranking
from reports.style import EXTRA_COLOURS, METHOD_COLOURS, config_colours, method_colour
from reports.terminal import WIDTH, terminal_leaderboard
from test_reports import make_store, write_failure, write_run


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A store built once, its report and the page's text; tests must not modify them."""
    out = make_store(tmp_path_factory.mktemp("page") / "results")
    written = reports.build(out)
    return out, written, (out / "reports" / "index.html").read_text(encoding="utf-8")


def _rows(html: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no table {table_id}"
    return re.findall(r'<tr[^>]*data-label="([^"]*)"', body.group(1))


def test_page_is_written_listed_and_self_contained(page):
    out, written, html = page
    assert out / "reports" / "index.html" in written
    assert "- [index.html](index.html)" in (out / "reports" / "index.md").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<script>" in html
    # nothing fetched from elsewhere: no external script, style sheet or image
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(?!data:|#)', html)
    assert "http://" not in html and "https://" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    figures = [p for p in written if p.suffix == ".png"]
    assert len(images) == len(figures)
    assert all(s.startswith("data:image/png;base64,") for s in images)


def test_page_holds_every_leaderboard_row_and_the_ranking(page):
    out, _, html = page
    ctx = ReportContext.from_store(out, out / "reports")
    for dataset, profile, table in ctx.per_dataset():
        assert _rows(html, f"lb-ds-{dataset}-{profile}") == list(table.meta["config"])
    assert sorted(_rows(html, "ranking-table")) == sorted(ctx.table.meta["config"])
    for group in ("distortion", "rate", "sparsity", "dead", "likelihood", "cost"):
        assert f'data-group="{group}"' in html and f'class="num g-{group}"' in html
    # each leaderboard row links to the details of its runs, which exist
    for key in ("lca0", "lca1", "lca2", "pvae0", "pvae1"):
        assert f'href="#run-{key}"' in html and f'<details class="run" id="run-{key}">' in html


def test_failed_run_details_show_error_and_traceback(page):
    _, _, html = page
    block = re.search(r'<details class="run failed" id="fail-fista0">(.*?)</details>', html, re.S)
    assert block and "NonFiniteLossError: loss is nan" in block.group(1)
    assert '<pre class="traceback">...</pre>' in block.group(1)
    assert 'href="#fail-fista0"' in html


def test_unconverged_rows_are_marked_not_results_and_not_ranked(tmp_path):
    out = tmp_path / "results"
    write_run(out, "lca0", "lca", converged=0.0, sse=1.0)
    write_run(out, "fista0", "fista", converged=1.0, sse=3.0)
    write_run(out, "pvae0", "pvae", converged=None, sse=2.0)
    reports.build(out)
    html = (out / "reports" / "index.html").read_text()
    board = html[html.index('id="lb-ds-toy-quick"'):]
    row = re.search(r'<tr class="unconverged" data-label="lca"[^>]*>(.*?)</tr>', board, re.S)
    assert row and "lca †" in row.group(1) and "not converged: not a result" in row.group(1)
    assert "its numbers are not results" in html
    rank = ranking(ReportContext.from_store(out, out / "reports").table)
    by = rank.rows.set_index("config")
    assert by.at["lca", "n_unconverged"] == 1 and by.at["lca", "label"] == "lca †"
    sse = dict(zip(rank.rows["config"], rank.mean["sse"]))
    assert np.isnan(sse["lca"]) and sse["pvae"] == 1.0 and sse["fista"] == 2.0   # n/a is ranked


def test_ranking_is_the_mean_rank_over_datasets():
    from reports.collect import aggregate, runs_frame

    records = []
    for dataset, values in (("a", {"lca": 1.0, "fista": 2.0, "pvae": 3.0}),
                            ("b", {"lca": 5.0, "fista": 4.0})):
        for method, sse in values.items():
            records.append({"key": f"{dataset}{method}", "status": "ok",
                            "spec": {"method": method, "dataset": dataset, "profile": "quick",
                                     "seed": 0, "overrides": {}},
                            "method": {"family": "x"},
                            "metrics": {"sse": sse, "lifetime_sparsity": sse / 10}})
    runs, names, _ = runs_frame(records)
    rank = ranking(aggregate(runs, names))
    table = {c: (m, n) for c, m, n in zip(rank.rows["config"], rank.mean["sse"], rank.count["sse"])}
    assert table == {"fista": (1.5, 2), "lca": (1.5, 2), "pvae": (3.0, 1)}
    sparse = dict(zip(rank.rows["config"], rank.mean["lifetime_sparsity"]))   # higher is better
    assert sparse == {"fista": 2.0, "lca": 2.0, "pvae": 1.0}   # a: pvae, fista, lca; b: lca, fista
    assert dict(rank.metrics)["sse"] == "lower"
    assert dict(zip(rank.rows["config"], rank.rows["n_pairs"])) == {"fista": 2, "lca": 2, "pvae": 1}


def test_rebuild_prunes_runs_that_left_and_the_page_forgets_them(tmp_path):
    out = make_store(tmp_path / "results")
    atoms = np.random.default_rng(1).normal(size=(6, 16)).astype(np.float32)
    write_run(out, "gone0", "lca", dataset="gone", dictionary=atoms)
    write_failure(out, "gonefail", "fista")
    first = reports.build(out, formats=("png", "svg"))
    rep = out / "reports"
    stale = [rep / "leaderboard_gone_quick.md", rep / "figures" / "dictionary_gone_quick_lca.png",
             rep / "figures" / "dictionary_gone_quick_lca.svg"]
    assert all(p.exists() for p in stale)
    assert 'id="ds-gone-quick"' in (rep / "index.html").read_text()
    for ext in ("json", "npz"):
        (out / "runs" / f"gone0.{ext}").unlink()
    second = reports.build(out)                      # formats: the previous build's (png, svg)
    assert not any(p.exists() for p in stale)
    assert set(second) < set(first)
    html = (rep / "index.html").read_text()
    assert 'id="ds-gone-quick"' not in html and "gone0" not in html
    assert sorted(p.relative_to(rep).as_posix() for p in rep.rglob("*") if p.is_file()) == sorted(
        p.relative_to(rep).as_posix() for p in second)


def test_vector_formats_are_byte_identical_kept_then_pruned(tmp_path):
    out = make_store(tmp_path / "results")
    first = reports.build(out, formats=("png", "pdf", "svg"))
    vectors = sorted(p for p in first if p.suffix in (".pdf", ".svg"))
    pngs = sorted(p for p in first if p.suffix == ".png")
    assert [p.with_suffix("") for p in vectors[::2]] == [p.with_suffix("") for p in pngs]
    snapshot = {p: p.read_bytes() for p in first}
    assert reports.build(out) == first                      # no formats named: the previous ones
    assert {p: p.read_bytes() for p in first} == snapshot
    assert "Figure formats: png, pdf, svg" in (out / "reports" / "index.md").read_text()
    reports.build(out, formats=("png",))
    assert not any(p.exists() for p in vectors)
    with pytest.raises(ConfigError, match="unknown figure format"):
        reports.build(out, formats=("png", "eps"))


def test_scorecard_and_samples_appear_on_the_page(tmp_path):
    from suite.reproduce.scorecard import Row, write_scorecard

    out = make_store(tmp_path / "results")
    reports.build(out)
    repro = out / "reports" / "reproduction"
    figure = out / "reports" / "figures" / "sparsity_vs_sse_toy_quick.png"
    (repro / "figures").mkdir(parents=True)
    (repro / "figures" / "C1.png").write_bytes(figure.read_bytes())
    rows = [Row("C1", "a claim", "0.5", "paper §1", "0.49", "|d| < 0.1", "holds", "", None, 1.0,
                str(repro / "figures" / "C1.png"), {}),
            Row("C2", "another", "1", "paper §2", "3", "|d| < 0.1", "does not hold", "n", None,
                None, None, {})]
    write_scorecard(rows, repro, {"command": "reproduce", "profile": "smoke"})
    (out / "reports" / "samples_lca_lca0.png").write_bytes(figure.read_bytes())
    reports.build(out)
    html = (out / "reports" / "index.html").read_text()
    assert '<section id="reproduction">' in html and "a claim" in html
    assert '<span class="badge ok">holds</span>' in html
    assert '<span class="badge bad">does not hold</span>' in html
    assert '<section id="samples">' in html and 'href="#run-lca0"' in html
    assert (repro / "scorecard.json").exists()                 # other commands' files: kept
    assert (out / "reports" / "samples_lca_lca0.png").exists()


def test_method_colours_are_fixed_and_distinct():
    assert len(set(METHOD_COLOURS.values())) == len(METHOD_COLOURS)
    assert method_colour("lca") == METHOD_COLOURS["lca"]
    # a plugin method: from a fixed palette by CRC-32, the same in every process (not hash())
    assert method_colour("my_plugin") == "#756bb1" and "#756bb1" in EXTRA_COLOURS
    first, second, other = config_colours(["lca", "lca", "pvae"])
    assert first != second and other == tuple(int(METHOD_COLOURS["pvae"][i:i + 2], 16) / 255
                                              for i in (1, 3, 5))


def _grid_records(n_seeds: int = 3) -> list[dict]:
    """Records of a 12-method grid on labelled data: rates, KNN, long override labels."""
    methods = {"pvae": "amortized-vae", "cvae": "amortized-vae", "gvae": "amortized-vae",
               "gvae_relu": "amortized-vae", "lvae": "amortized-vae", "ipvae": "iterative-vae",
               "igvae": "iterative-vae", "igvae_relu": "iterative-vae", "lca": "sparse-coding",
               "ista": "sparse-coding", "fista": "sparse-coding", "bihm": "helmholtz"}
    rng = np.random.default_rng(0)
    out = []
    for j, (method, family) in enumerate(methods.items()):
        overrides = {"lam": 0.123456, "n_latents": 512} if j % 3 == 0 else {}
        for seed in range(n_seeds):
            metrics = {"sse": float(rng.uniform(10, 200)), "r2": float(rng.uniform(-1, 1)),
                       "rate": None if family == "sparse-coding" else float(rng.uniform(0, 9)),
                       "lifetime_sparsity": float(rng.uniform()), "dead_frac": float(rng.uniform()),
                       "knn@10": float(rng.uniform()), "knn@1000": float(rng.uniform()),
                       "fit_seconds": float(rng.uniform(1, 5000)), "converged": float(seed != 1),
                       "nll": float(rng.uniform(50, 120))}
            out.append({"key": f"{method}{seed}", "status": "ok",
                        "spec": {"method": method, "dataset": "MNIST", "profile": "paper",
                                 "seed": seed, "overrides": overrides},
                        "method": {"family": family}, "metrics": metrics})
    return out


@pytest.mark.parametrize("n_seeds", [1, 3])
def test_terminal_leaderboard_of_a_12_method_grid_fits_120_columns(n_seeds):
    text = terminal_leaderboard(_grid_records(n_seeds), "MNIST", "paper",
                                full_table="results/reports/leaderboard_MNIST_paper.md")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= WIDTH, text
    header = lines[0].split()
    assert header == ["method", "sse", "R²", "rate", "lifetime", "dead", "knn@10", "converged",
                      "fit", "s"]
    assert sum(1 for line in lines if re.match(r"(pvae|cvae|gvae|lvae|ipvae|igvae|lca|ista|"
                                               r"fista|bihm)", line)) == 12
    assert "every column: results/reports/leaderboard_MNIST_paper.md" in text
    if n_seeds > 1:                                      # a seed did not converge: marked
        assert "†" in text and "its numbers are not results" in text


def test_terminal_columns_choose_others_and_name_unknown_ones():
    records = _grid_records(1)
    text = terminal_leaderboard(records, "MNIST", "paper", ["sse", "nll", "knn", "bogus"])
    assert text.splitlines()[0].split() == ["method", "sse", "nll", "knn@10"]
    assert "not columns of this leaderboard: bogus" in text
    wide = terminal_leaderboard(records, "MNIST", "paper", ["all"])
    assert all(len(line) <= WIDTH for line in wide.splitlines())
    assert "left out to fit 120 columns" in wide


def test_run_prints_the_narrow_view_and_honours_columns(capsys, tmp_path):
    from test_cli import run

    out = tmp_path / "store"
    code, stdout, _ = run(capsys, "--methods", "toy,toy2", "--dataset", "toy", "--profile",
                          "smoke", "--set", "toy.scale=0.5,2", "--out", str(out))
    assert code == 0
    table = stdout[stdout.index("Leaderboard: toy"):stdout.index("Tables and figures")]
    assert all(len(line) <= WIDTH for line in table.splitlines())
    assert "R²" in table and "toy (scale=0.5)" in table and "population_sparsity" not in table
    assert str(out / "reports" / "index.html") in stdout
    assert (out / "reports" / "index.html").exists()
    code, stdout, _ = run(capsys, "--methods", "toy", "--dataset", "toy", "--profile", "smoke",
                          "--set", "toy.scale=0.5", "--out", str(out), "--columns",
                          "method,population_sparsity")
    assert code == 0 and "population" in stdout and "population sparsity" in stdout


def test_report_command_formats(capsys, tmp_path):
    from test_cli import run

    out = make_store(tmp_path / "results")
    code, stdout, _ = run(capsys, "report", "--out", str(out), "--formats", "png,svg")
    assert code == 0 and (out / "reports" / "figures" / "rate_distortion_toy_quick.svg").exists()
    assert "index.html" in stdout
    code, _, err = run(capsys, "report", "--out", str(out), "--formats", "png,eps")
    assert code == 2 and "unknown format(s) eps" in err


def test_page_of_an_empty_store_and_of_a_store_with_only_failures(tmp_path):
    out = tmp_path / "results"
    (out / "runs").mkdir(parents=True)
    assert [p.name for p in reports.build(out)] == ["index.html", "index.md"]
    assert "The store holds no run yet." in (out / "reports" / "index.html").read_text()
    write_failure(out, "f0", "fista")
    reports.build(out)
    html = (out / "reports" / "index.html").read_text()
    assert 'id="ds-toy-quick"' in html and "no finished runs" in html and 'id="fail-f0"' in html
