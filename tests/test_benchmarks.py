"""The lasso benchmark runs end to end (``--quick``) and prints what its closing lines promise:
the anchor it used, our ratio against it, and the two floors given the optimum's support."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_lasso_benchmark_prints_anchor_ratio_and_floors():
    out = subprocess.run([sys.executable, "benchmarks/bench_lasso.py", "--quick", "--dictionary",
                          "random", "--patches", "40"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "QUICK RUN" in text and "scikit-learn" in text and "float64" in text
    best = re.search(r"best anchor: (.+?) \(.*\) ([0-9.]+) ms", text)
    assert best, text[-2000:]
    ratio = re.search(r"FISTA \(working sets\) vs the best scikit-learn anchor: ([0-9.]+)x", text)
    assert ratio and float(ratio.group(1)) > 0
    target = re.search(r"the 5x target needs ([0-9.]+) ms", text)
    assert target and abs(float(target.group(1)) - float(best.group(2)) / 5) < 0.06
    solve = re.search(r"batched FISTA on those sets: ([0-9.]+) ms .* at most ([0-9.]+)x", text)
    floor = re.search(r"floor for any batched tensor form ([0-9.]+) ms, at most ([0-9.]+)x", text)
    iterations = re.search(r"rows need ([0-9.]+) FISTA iterations on average \(most (\d+)\)", text)
    assert solve and floor and iterations, text[-2000:]
    assert float(iterations.group(1)) <= int(iterations.group(2))
    assert 0 < float(floor.group(1)) and 0 < float(solve.group(1))
