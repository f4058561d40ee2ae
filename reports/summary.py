"""The store in a few lines: runs, configurations, damaged, superseded and failed runs, and runs
submitted to an engine that have not finished (the head of ``index.md`` and of the page, and what
``report`` prints)."""
from __future__ import annotations

from .collect import ReportContext
from .run_details import failure_summary


def count(n: int, noun: str) -> str:
    """"1 run", "2 runs": ``n`` and the noun, plural (with an s) unless n is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def store_summary(ctx: ReportContext) -> list[str]:
    """One line per fact about the store behind ``ctx`` (failed runs: one line each)."""
    lines = [f"{count(len(ctx.records), 'finished run')} stored in {ctx.out_dir / 'runs'} "
             f"({count(len(ctx.table), 'configuration')} on "
             f"{count(len(ctx.table.pairs()), 'dataset/profile pair')})."]
    if ctx.damaged:
        n = len(ctx.damaged)
        lines.append(f"{count(n, 'damaged run')} not counted; "
                     f"{'they' if n != 1 else 'it'} will be redone the next time "
                     f"{'their' if n != 1 else 'its'} grid runs:")
        lines += [f"  - {d.path}: {d.reason}" for d in sorted(ctx.damaged, key=lambda d: str(d.path))]
    if ctx.n_superseded:
        lines.append(f"{ctx.n_superseded} older record(s) of the same method, configuration and "
                     "seed are superseded by newer ones and not counted.")
    if ctx.failures:
        n = len(ctx.failures)
        lines.append(f"{count(n, 'run')} failed; see {ctx.out_dir / 'failures'} "
                     "(failed runs are retried on the next invocation):")
        lines += [f"  - {failure_summary(f)}"
                  for f in sorted(ctx.failures, key=lambda f: f.get("key", ""))]
    from suite.executors.submissions import missing_lines  # runs submitted to Slurm/Ray, not finished

    return lines + missing_lines(ctx.out_dir)
