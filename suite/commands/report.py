"""``run_suite.py report``: rebuild every table and figure from the stored results."""
from __future__ import annotations

from pathlib import Path

from ..errors import SuiteError
from .common import add_out_argument, folder_problem, store_dir

NAME = "report"
HELP = "rebuild every leaderboard table and figure from the stored results"


def add_arguments(p):
    add_out_argument(p)
    p.add_argument("--to", default=None, help="write reports here (default: OUT/reports)")


def run(args) -> int:
    import reports

    out = store_dir(args)
    if not (out / "runs").is_dir():
        raise SuiteError(f"no result store at {out}: run the suite first, or pass --out FOLDER")
    target = Path(args.to) if args.to else out / "reports"
    problem = folder_problem(target) or folder_problem(target.absolute().parent)
    if problem:
        fix = ("Pass --to with a folder you can write to." if args.to else
               f"The store is only read: write the reports elsewhere with "
               f"`python run_suite.py report --out {out} --to DIR`.")
        raise SuiteError(f"cannot write the reports into {target}: {problem}. {fix}")
    written = reports.build(out, Path(args.to) if args.to else None)
    for line in reports.summary_lines(out):
        print(line)
    print(f"wrote {len(written)} files under {Path(args.to) if args.to else out / 'reports'}")
    return 0
