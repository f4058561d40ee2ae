"""Analyses beyond the leaderboard metrics: inference convergence over iterations
(``convergence``), the amortization gap (``amortization_gap``) and the Gabor-likeness of
dictionaries (``gabor``). They compute; ``reports/`` presents.
"""
