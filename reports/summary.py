"""The store in a few lines: runs, configurations, damaged, superseded and failed runs, and runs
submitted to an engine that have not finished (the head of ``index.md`` and of the page, and what
``report`` prints)."""
from __future__ import annotations

from .collect import ReportContext
from .run_details import failure_summary


def store_summary(ctx: ReportContext) -> list[str]:
    """One line per fact about the store behind ``ctx`` (failed runs: one line each)."""
    n_runs = len(ctx.records)
    pairs = ctx.table.pairs()
    lines = [f"{n_runs} finished run{'s' if n_runs != 1 else ''} stored in "
             f"{ctx.out_dir / 'runs'} ({len(ctx.table)} configurations on "
             f"{len(pairs)} dataset/profile pair{'s' if len(pairs) != 1 else ''})."]
    if ctx.damaged:
        n = len(ctx.damaged)
        lines.append(f"{n} damaged run{'s' if n != 1 else ''} not counted; "
                     f"{'they' if n != 1 else 'it'} will be redone the next time "
                     f"{'their' if n != 1 else 'its'} grid runs:")
        lines += [f"  - {d.path}: {d.reason}" for d in sorted(ctx.damaged, key=lambda d: str(d.path))]
    if ctx.n_superseded:
        lines.append(f"{ctx.n_superseded} older record(s) of the same method, configuration and "
                     "seed are superseded by newer ones and not counted.")
    if ctx.failures:
        n = len(ctx.failures)
        lines.append(f"{n} run{'s' if n != 1 else ''} failed; see {ctx.out_dir / 'failures'} "
                     "(failed runs are retried on the next invocation):")
        lines += [f"  - {failure_summary(f)}"
                  for f in sorted(ctx.failures, key=lambda f: f.get("key", ""))]
    from suite.executors.submissions import missing_lines  # runs submitted to Slurm/Ray, not finished

    return lines + missing_lines(ctx.out_dir)
