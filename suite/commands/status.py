"""``python run_suite.py status``: how the runs submitted with ``--executor slurm|ray`` are doing.

Done and failed runs come from the store; queued and running ones from the engine (Slurm's
``squeue``/``sacct``, the Ray coordinator), which the command says plainly when it cannot reach.
``--watch`` redraws the live view that ``run`` shows until no run is queued or running.
"""
from __future__ import annotations

from pathlib import Path

NAME = "status"
HELP = "show the runs submitted with --executor slurm or ray: done, running, queued, failed"
WATCH_POLL_SECONDS = 5.0


def add_arguments(p) -> None:
    p.add_argument("--out", default=None, help="result store folder (default: results)")
    p.add_argument("--watch", action="store_true",
                   help="follow the runs live until none is queued or running")
    p.add_argument("--every", type=float, default=WATCH_POLL_SECONDS, metavar="SECONDS",
                   help=f"with --watch: seconds between two looks (default: {WATCH_POLL_SECONDS:g})")
    p.add_argument("--no-progress", action="store_true", help="with --watch: lines instead of a bar")


def run(args) -> int:
    from ..config import config_dir, load_yaml
    from ..store import Store
    from ..executors import executor_for_submission
    from ..executors.follow import follow, status_lines
    from ..executors.submissions import SUBMISSIONS, load_submissions

    out = Path(args.out or load_yaml(config_dir() / "suite.yaml").get("out", "results"))
    subs = load_submissions(out)
    if not subs:
        n = len(Store(out).records())
        print(f"no submissions under {out / SUBMISSIONS} (only --executor slurm or ray makes them); "
              f"the store holds {n} finished runs: `python run_suite.py report --out {out}`.")
        return 0
    executors: dict = {}

    def executor_for(sub):
        if sub.executor not in executors:
            executors[sub.executor] = executor_for_submission(sub)
        return executors[sub.executor]

    try:
        if args.watch:
            store = Store(out)
            pending = [s for s in subs if not all(store.has(k) for k in s.runs)]
            keys = list(dict.fromkeys(k for s in pending for k in s.runs))
            if keys:
                follow(out, pending, executor_for, keys, max(args.every, 0.1),
                       show_progress=not args.no_progress)
        for line in status_lines(out, subs, executor_for):
            print(line)
    finally:
        for ex in executors.values():
            ex.close()
    return 0
