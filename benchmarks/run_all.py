"""Run every benchmark, print its table, and write a JSON summary to benchmarks/results.json."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import bench_finite_k  # noqa: E402
import bench_sampler  # noqa: E402
import bench_tilt  # noqa: E402
from plural_utils.results import atomic_write_text, to_jsonable  # noqa: E402

BENCHMARKS = {"sampler": bench_sampler, "tilt": bench_tilt, "finite_k": bench_finite_k}
OUTPUT = Path(__file__).resolve().parent / "results.json"


def main() -> int:
    summary = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
               "cpus": os.cpu_count(), "load_average": os.getloadavg(), "benchmarks": {}}
    codes = {}
    for name, module in BENCHMARKS.items():
        print(f"== {name} ==")
        result = module.run()
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            codes[name] = module.main(result)
        print(captured.getvalue())
        summary["benchmarks"][name] = {"passed": codes[name] == 0, "result": result, "report": captured.getvalue()}
    summary["passed"] = all(code == 0 for code in codes.values())
    atomic_write_text(OUTPUT, json.dumps(to_jsonable(summary), indent=2) + "\n")
    print(f"summary written to {OUTPUT}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
