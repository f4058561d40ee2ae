"""Following submitted runs: the status view (done, running, queued, failed) and its live loop.

A run's status comes from the store first and from the engine second:

- ``done``: its record is in the store (whoever wrote it);
- ``queued`` / ``running``: the engine says so (a failure left by an earlier attempt is being
  retried);
- ``failed``: the engine says it ended and the store holds its failure (error, traceback, node),
  or the engine says its worker died before finishing (killed, out of time or memory, node lost);
- ``missing``: neither done nor failed, and the engine does not have it queued or running: the
  next ``run`` resubmits it;
- ``unknown``: the engine could not be reached and the store has nothing on the run.

:func:`follow` redraws this view until no run is queued or running; when it sees a worker that
died without a failure record it writes one (:func:`~suite.executors.base.record_crash`), so that
the next invocation reports and retries it like any failure.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from ..runner import RunOutcome
from ..store import Store
from .base import ENDED, QUEUED, RUNNING, UNKNOWN, EngineState, EngineUnreachable, record_crash
from .submissions import Submission, load_submissions

CATEGORIES = ("done", "running", "queued", "failed", "missing", "unknown")
UNREACHABLE_GIVE_UP_SECONDS = 300.0


@dataclasses.dataclass
class RunStatus:
    key: str
    label: str
    category: str
    node: str | None = None
    reason: str | None = None
    crash_log: str | None = None   # set when a dead worker's failure is not in the store yet


@dataclasses.dataclass
class View:
    runs: list[RunStatus]
    notes: list[str]

    def count(self, category: str) -> int:
        return sum(r.category == category for r in self.runs)

    @property
    def ended(self) -> int:
        """Runs no longer queued or running: done, failed or missing."""
        return self.count("done") + self.count("failed") + self.count("missing")

    @property
    def finished(self) -> bool:
        """No run is queued, running, or of unknown state."""
        return not any(r.category in ("queued", "running", "unknown") for r in self.runs)

    def summary(self) -> str:
        counts = {c: self.count(c) for c in CATEGORIES}
        parts = [f"{c} {counts[c]}" for c in CATEGORIES[:4]]
        parts += [f"{c} {counts[c]}" for c in CATEGORIES[4:] if counts[c]]
        return " · ".join(parts)


def classify(store: Store, key: str, label: str, st: EngineState | None) -> RunStatus:
    """One run's status from the store and the engine's state (None: engine unreachable)."""
    if store.has(key):
        return RunStatus(key, label, "done")
    if st is not None and st.state in (QUEUED, RUNNING):
        return RunStatus(key, label, st.state, node=st.node)
    if st is not None and st.state == ENDED and st.crash:
        return RunStatus(key, label, "failed", node=st.node, reason=st.crash, crash_log=st.log or "")
    failure = store.failure(key)
    if failure is not None:
        error = str(failure.get("error") or "").strip().splitlines()
        return RunStatus(key, label, "failed", node=failure.get("node"),
                         reason=error[0] if error else "failed")
    if st is None:
        return RunStatus(key, label, "unknown", reason="the engine could not be reached")
    if st.state == ENDED:
        return RunStatus(key, label, "missing", node=st.node,
                         reason="ended without a record or a failure in the store: is the store on a "
                                "filesystem that every worker shares, at the same path?")
    return RunStatus(key, label, "missing", reason="not queued or running (the next run resubmits it)")


ExecutorFor = Callable[[Submission], object]


def engine_states(subs: Iterable[Submission], executor_for: ExecutorFor):
    """({key: EngineState or None when unreachable}, notes); later submissions win for a key."""
    from ..errors import SuiteError

    states: dict[str, EngineState | None] = {}
    notes: list[str] = []
    for sub in subs:
        try:
            known = executor_for(sub).states(sub)
            states.update({k: known.get(k, EngineState(UNKNOWN)) for k in sub.runs})
        except (EngineUnreachable, SuiteError) as exc:
            notes.append(f"{sub.executor} engine of submission {sub.id} cannot be reached: {exc}")
            states.update({k: None for k in sub.runs})
    return states, notes


def build_view(out, subs: list[Submission], executor_for: ExecutorFor, keys=None) -> View:
    """The view of the runs ``keys`` (default: every run of ``subs``)."""
    store = Store(out)
    states, notes = engine_states(subs, executor_for)
    labels = {k: sub.label(k) for sub in subs for k in sub.runs}
    keys = list(labels) if keys is None else list(keys)
    return View([classify(store, k, labels.get(k, k), states.get(k)) for k in keys], notes)


def record_crashes(out, view: View, subs: list[Submission], already: set) -> None:
    """Write a failure record for each run whose worker died unrecorded (once per run)."""
    specs = {k: spec for sub in subs for k, spec in sub.runs.items()}
    for r in view.runs:
        if r.crash_log is not None and r.key not in already:
            record_crash(out, r.key, specs.get(r.key), r.reason, r.node, r.crash_log)
            already.add(r.key)


def follow(out, subs: list[Submission], executor_for: ExecutorFor, keys, poll_seconds: float,
           show_progress: bool = True, stream=None) -> View:
    """Redraw the view every ``poll_seconds`` until no run is queued or running; return it."""
    stream = stream or sys.stdout
    keys = list(keys)
    bar = _bar(len(keys)) if show_progress else None
    recorded: set = set()
    last_line, unreachable_since = None, None
    try:
        while True:
            view = build_view(out, subs, executor_for, keys)
            record_crashes(out, view, subs, recorded)
            line = view.summary()
            if bar is not None:
                bar.n = view.ended
                bar.set_postfix_str(line, refresh=False)
                bar.refresh()
            elif line != last_line:
                print(f"runs: {line}", file=stream, flush=True)
            if view.notes and line != last_line:
                for note in view.notes:
                    print(f"note: {note}", file=sys.stderr, flush=True)
            last_line = line
            if view.finished:
                return view
            if view.count("unknown"):
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > max(UNREACHABLE_GIVE_UP_SECONDS, 10 * poll_seconds):
                    print("lost contact with the engine; the runs may go on. "
                          "`python run_suite.py status` shows them later.", file=sys.stderr)
                    return view
            else:
                unreachable_since = None
            time.sleep(poll_seconds)
    finally:
        if bar is not None:
            bar.close()


def _bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="runs", unit="run", file=sys.stderr, dynamic_ncols=True, leave=True)


def static_bar(view: View, ncols: int = 60) -> str:
    """The progress bar of ``view`` as one line of text (ended runs over all runs)."""
    from tqdm import tqdm

    return tqdm.format_meter(view.ended, len(view.runs), 0, ncols=ncols,
                             bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}")


def outcomes(view: View) -> list[RunOutcome]:
    """The view as :class:`RunOutcome` s for :func:`suite.runner.summarize`."""
    out = []
    for r in view.runs:
        if r.category == "done":
            out.append(RunOutcome(r.key, r.label, "done"))
        else:
            where = f" on {r.node}" if r.node else ""
            out.append(RunOutcome(r.key, r.label, "failed", error=f"{r.reason or r.category}{where}"))
    return out


def submit_and_follow(executor, specs: list, ctx, show_progress: bool = True):
    """:meth:`EngineExecutor.run` (see :mod:`suite.executors.base`)."""
    from .kinds import executor_for_submission
    from .submissions import run_label

    store = Store(ctx.out)
    cached = {s.key() for s in specs if store.has(s.key())}
    todo = [s for s in specs if s.key() not in cached]
    if not todo:
        return [RunOutcome(s.key(), run_label(s), "cached") for s in specs]

    def executor_for(sub: Submission):
        return executor if sub.executor == executor.name else executor_for_submission(sub)

    todo_keys = {s.key() for s in todo}
    earlier = [sub for sub in load_submissions(ctx.out) if todo_keys & set(sub.runs)]
    states, notes = engine_states(earlier, executor_for)
    for note in notes:
        print(f"note: {note}; its unfinished runs are submitted again.", file=sys.stderr)
    in_flight = {k for k, st in states.items() if k in todo_keys and st and st.state in (QUEUED, RUNNING)}
    watched = [sub for sub in earlier if in_flight & set(sub.runs)]
    if in_flight:
        print(f"{len(in_flight)} runs are still queued or running from earlier submissions "
              f"({', '.join(s.id for s in watched)}): not submitted again.")
    new = [s for s in todo if s.key() not in in_flight]
    sub = None
    if new:
        sub = Submission.new(executor.name, new)
        executor.submit(new, ctx, sub)
        path = sub.save(ctx.out)
        print(f"submitted {executor.describe(sub)} (submission {sub.id}, {path}); "
              f"{len(cached)} runs already done.")
    if executor.options.detach:
        print(f"detached: `python run_suite.py status --out {ctx.out}` shows their progress, "
              f"`python run_suite.py report --out {ctx.out}` the leaderboard of what has finished.")
        return None
    try:
        view = follow(ctx.out, watched + ([sub] if sub else []), executor_for, [s.key() for s in todo],
                      executor.poll_seconds, show_progress)
    except KeyboardInterrupt:
        if sub is not None:
            executor.cancel(sub)
            print(f"\ncancelled the runs of submission {sub.id} still queued or running.", file=sys.stderr)
        raise
    return [RunOutcome(s.key(), run_label(s), "cached") for s in specs if s.key() in cached] + \
        outcomes(view)


def status_lines(out, subs: list[Submission], executor_for: ExecutorFor) -> list[str]:
    """The ``status`` command's text: one block per submission with runs not yet done."""
    store = Store(out)
    lines, complete = [], 0
    for sub in subs:
        if all(store.has(k) for k in sub.runs):
            complete += 1
            continue
        view = build_view(out, [sub], executor_for)
        lines.append(f"submission {sub.id}: {sub.executor}, {len(sub.runs)} runs, submitted {sub.created}")
        lines.append(f"  {static_bar(view)}  {view.summary()}")
        for r in view.runs:
            if r.category in ("failed", "missing", "unknown"):
                where = f" on {r.node}" if r.node else ""
                detail = f" (traceback: {Path(out) / 'failures' / (r.key + '.json')})" \
                    if r.category == "failed" and store.failed(r.key) else ""
                lines.append(f"  {r.category} {r.label} [{r.key}]{where}: {r.reason}{detail}")
        lines += [f"  note: {n}" for n in view.notes]
    if complete:
        lines.append(f"{complete} submission{'s' if complete != 1 else ''} complete (every run done).")
    return lines
