"""Reproduction of the papers' findings: claims, their experiments, verdicts and a scorecard.

``python run_suite.py reproduce`` (:mod:`.command`) runs the experiments behind each claim of
:data:`.claims.CLAIMS` through the ordinary result store, then judges every claim with the
paper's own rule (:mod:`.claims`), decides whether the verdict may be believed (every run
converged, :mod:`.verdict`) and writes the scorecard (:mod:`.scorecard`).
"""
