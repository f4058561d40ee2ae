"""``run_suite.py report``: rebuild every table and figure, and ``index.html`` (the whole report
on one page), from the stored results; ``--formats png,pdf,svg`` adds vector figures."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, SuiteError
from .common import add_out_argument, folder_problem, store_dir

NAME = "report"
HELP = "rebuild every leaderboard table and figure from the stored results"


def add_arguments(p):
    add_out_argument(p)
    p.add_argument("--to", default=None, help="write reports here (default: OUT/reports)")
    p.add_argument("--formats", default=None, metavar="png,pdf,svg",
                   help="figure formats: pdf and svg add vector copies beside each PNG, e.g. "
                        "for a paper (default: those of the previous build, else png; later "
                        "rebuilds keep them until --formats png)")


def parse_formats(text: str | None) -> tuple[str, ...] | None:
    """``--formats`` as a tuple (PNG always first: the page embeds it); None when not given;
    exit 2 on an unknown format."""
    from reports.figures import FORMATS

    if text is None:
        return None
    names = [f.strip().lower().lstrip(".") for f in (text or "").split(",") if f.strip()]
    unknown = [f for f in names if f not in FORMATS]
    if unknown:
        raise ConfigError(f"--formats: unknown format(s) {', '.join(unknown)}; choose among "
                          f"{', '.join(FORMATS)} (e.g. --formats png,pdf,svg).")
    return tuple(dict.fromkeys(["png", *names]))


def run(args) -> int:
    import reports

    formats = parse_formats(getattr(args, "formats", None))
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
    written = reports.build(out, Path(args.to) if args.to else None, formats)
    for line in reports.summary_lines(out):
        print(line)
    where = Path(args.to) if args.to else out / "reports"
    print(f"wrote {len(written)} files under {where}")
    print(f"everything on one page (open it in a browser): {where / 'index.html'}")
    return 0
