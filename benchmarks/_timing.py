"""Shared helpers for the benchmarks: interleaved timing and plain-text tables.

The machine is shared, so absolute times drift; every comparison times the
baseline and the candidate in alternation within one run and reports the
median of the repetitions, never a single wall-clock figure. Fast calls are
repeated back to back within a repetition (as ``timeit`` does) so that they
are measured in steady state.
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def interleaved(functions: dict, reps: int, min_time: float = 0.02) -> dict:
    """Time each callable ``reps`` times, alternating between them.

    Like ``timeit``, a repetition of a callable that takes less than
    ``min_time`` seconds runs it ``number`` times back to back (``number``
    calibrated from a first call) and records the mean, so a sub-millisecond
    call is timed in steady state rather than right after the baseline has
    flushed the caches. Each callable receives the repetition number (to seed
    its RNG) and may return a value (the last call's value per repetition is
    kept); returns ``{name: {"median", "best", "times", "number", "outputs"}}``.
    """
    number = {}
    for name, fn in functions.items():
        start = time.perf_counter()
        fn(-1)
        first = time.perf_counter() - start
        number[name] = max(1, int(np.ceil(min_time / max(first, 1e-7))))
    times = {name: [] for name in functions}
    outputs = {name: [] for name in functions}
    for rep in range(reps):
        for name, fn in functions.items():
            start = time.perf_counter()
            for _ in range(number[name]):
                out = fn(rep)
            times[name].append((time.perf_counter() - start) / number[name])
            outputs[name].append(out)
    return {name: {"median": float(np.median(t)), "best": float(np.min(t)), "times": t,
                   "number": number[name], "outputs": outputs[name]} for name, t in times.items()}


def table(rows: list[dict], columns: list[str]) -> str:
    """Render ``rows`` (dicts) as a fixed-width text table."""
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
