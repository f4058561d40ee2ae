"""Timing helpers shared by the benchmark scripts: device synchronization and median wall time."""
from __future__ import annotations

import statistics
import time

import torch


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work (CUDA); nothing to wait for on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(fns: dict, device: torch.device | str,
                        repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (median wall seconds, median process CPU seconds, all threads)} of each
    ``fns[name]()`` over ``repeats`` rounds, each round calling every function once in order
    (after one warm-up call each), so that slow drifts of the machine hit all of them alike."""
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync(device)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in fns}


def median_wall_and_cpu_seconds(fn, device: torch.device | str,
                                repeats: int) -> tuple[float, float]:
    """Median wall time and median process CPU time (all threads) of ``fn()``, in seconds, over
    ``repeats`` calls after one warm-up call."""
    return interleaved_medians({"fn": fn}, device, repeats)["fn"]


def median_seconds(fn, device: torch.device | str, repeats: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after one warm-up call."""
    return median_wall_and_cpu_seconds(fn, device, repeats)[0]
