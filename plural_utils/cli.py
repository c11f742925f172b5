"""Command line: run the book's notebooks at a profile through papermill.

Examples
--------
``python -m plural_utils list``
``python -m plural_utils run e1 --profile paper``
``python -m plural_utils run notebooks/theory/lemma1_curation_update.ipynb -p n_draws 1000``
``python -m plural_utils run-all --profile smoke --output-dir _build/executed``
``python -m plural_utils sweep e1 --profile cpu --grid q=0.3,0.5,0.7 --seeds 3``

Executed notebooks land in ``<output-dir>/<experiment>/<profile>/<notebook>.ipynb``;
results in :func:`plural_utils.results.results_dir`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from plural_utils.profiles import DEFAULT_PROFILE, EXPERIMENTS, PROFILES
from plural_utils.results import REPO_ROOT, RESULTS_ENV, results_dir

KERNEL_NAME = "python3"
DEFAULT_OUTPUT_DIR = "_runs"


@dataclass(frozen=True)
class Target:
    """A notebook to execute and the experiment name its outputs are filed under."""

    experiment: str
    notebook: Path


class UsageError(Exception):
    """A bad command line argument (exit status 2)."""


def resolve_target(target: str) -> Target:
    """An experiment name, or a notebook path (matched to a registered experiment if it is one)."""
    if target in EXPERIMENTS:
        return Target(target, REPO_ROOT / EXPERIMENTS[target].notebook)
    path = Path(target)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise UsageError(f"notebook not found: {target}")
        path = path.resolve()
        for exp in EXPERIMENTS.values():
            if (REPO_ROOT / exp.notebook).resolve() == path:
                return Target(exp.name, path)
        return Target(path.stem, path)
    raise UsageError(
        f"unknown experiment {target!r}; allowed values: {', '.join(EXPERIMENTS)} "
        "(or a path to a .ipynb notebook)"
    )


def parse_value(text: str) -> Any:
    """Read a ``-p`` value as YAML, so ``3`` is an int, ``[1, 2]`` a list, ``abc`` a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# The inline backend makes plt.show() emit PNG outputs into the executed
# notebook; with Agg (what scripts use) the book would have no figures.
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"


def kernel_environment(results_root: str | None) -> None:
    """Set the variables the kernel inherits (papermill starts it from this process)."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["MPLBACKEND"] = KERNEL_MPLBACKEND
    if results_root is not None:
        os.environ[RESULTS_ENV] = str(Path(results_root).resolve())


def output_path(target: Target, profile: str, output_dir: str | os.PathLike) -> Path:
    """Where :func:`execute` writes the executed notebook."""
    return Path(output_dir).resolve() / target.experiment / profile / target.notebook.name


def execute(
    target: Target,
    profile: str,
    output_dir: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    seed: int | None = None,
    progress_bar: bool = True,
) -> Path:
    """Execute ``target`` at ``profile`` and return the executed notebook's path.

    The kernel runs in the notebook's own folder, so relative paths in a
    notebook mean the same in JupyterLab and here. Raises papermill's
    ``PapermillExecutionError`` when a cell fails (the partial notebook is
    still written).
    """
    import papermill as pm

    params: dict[str, Any] = {"profile": profile}
    if seed is not None:
        params["seed"] = seed
    params.update(parameters or {})
    out = output_path(target, profile, output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(target.notebook),
        str(out),
        parameters=params,
        kernel_name=KERNEL_NAME,
        cwd=str(target.notebook.parent),
        progress_bar=progress_bar,
    )
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    print(f"profiles: {', '.join(PROFILES)} (default: {DEFAULT_PROFILE})")
    print("experiments:")
    width = max(len(name) for name in EXPERIMENTS)
    for exp in EXPERIMENTS.values():
        print(f"  {exp.name:<{width}}  {exp.notebook}  -- {exp.title}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    target = resolve_target(args.target)
    kernel_environment(args.results_dir)
    params = {key: parse_value(value) for key, value in args.param or []}
    try:
        out = execute(target, args.profile, args.output_dir, params, args.seed)
    except Exception as err:  # papermill's execution error, a missing kernel, a bad notebook
        print(f"FAILED {target.notebook}: {_one_line(err)}", file=sys.stderr)
        print(f"partial notebook: {output_path(target, args.profile, args.output_dir)}", file=sys.stderr)
        return 1
    print(f"executed notebook: {out}")
    print(f"results folder:    {results_dir(target.experiment, args.profile)}")
    return 0


def _cmd_run_all(args: argparse.Namespace) -> int:
    kernel_environment(args.results_dir)
    failures: list[tuple[str, str]] = []
    for name in sorted(EXPERIMENTS, key=lambda n: EXPERIMENTS[n].stage):
        exp = EXPERIMENTS[name]
        print(f"== {name} ({exp.notebook}) at profile {args.profile}", flush=True)
        target = resolve_target(name)
        try:
            out = execute(target, args.profile, args.output_dir, seed=args.seed)
        except Exception as err:
            partial = output_path(target, args.profile, args.output_dir)
            failures.append((exp.notebook, f"{_one_line(err)} (partial notebook: {partial})"))
            print(f"FAILED {exp.notebook}", file=sys.stderr, flush=True)
            continue
        print(f"executed notebook: {out}")
        print(f"results folder:    {results_dir(name, args.profile)}", flush=True)
    if failures:
        print(f"\n{len(failures)} of {len(EXPERIMENTS)} notebooks failed:", file=sys.stderr)
        for notebook, message in failures:
            print(f"  {notebook}: {message}", file=sys.stderr)
        return 1
    print(f"\nall {len(EXPERIMENTS)} notebooks ran at profile {args.profile}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from plural_utils import sweep  # submitit and the pool machinery only when sweeping

    if args.experiment not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {args.experiment!r}; allowed values: {', '.join(EXPERIMENTS)}")
    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {args.seeds}")
    try:
        grid = sweep.parse_grid(args.grid or [])
        jobs = sweep.make_jobs(args.experiment, args.profile, grid, range(args.seeds), args.output_dir)
    except ValueError as err:
        raise UsageError(str(err)) from None
    folder = sweep.sweep_folder(args.experiment, args.profile, args.output_dir)
    if args.executor == "local":
        executor = sweep.LocalExecutor(max_workers=args.jobs)
    else:
        try:
            executor = sweep.SubmititExecutor(folder / "_submitit", cluster=args.executor,
                                              partition=args.slurm_partition, gpus=args.slurm_gpus,
                                              time_min=args.slurm_time)
        except RuntimeError as err:  # submitit: no srun on this machine
            raise UsageError(f"--executor {args.executor}: {err}") from None
    print(f"{len(jobs)} jobs ({args.executor}) -> {folder}", flush=True)
    rows = sweep.run_sweep(jobs, executor, folder / sweep.INDEX_NAME, force=args.force)
    print(sweep.summary(rows), file=sys.stderr if any(r["status"] == "failed" for r in rows) else sys.stdout)
    print(f"index: {folder / sweep.INDEX_NAME}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0


def _one_line(err: BaseException) -> str:
    """The most telling line of an exception (papermill's messages span a whole traceback)."""
    ename = getattr(err, "ename", None)
    if ename is not None:
        return f"{ename}: {getattr(err, 'evalue', '')}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m plural_utils",
        description="Execute the companion notebooks at a compute profile.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list experiments and profiles").set_defaults(func=_cmd_list)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--profile",
            choices=PROFILES,
            default=DEFAULT_PROFILE,
            help=f"compute profile (default: {DEFAULT_PROFILE})",
        )
        p.add_argument(
            "--output-dir",
            default=DEFAULT_OUTPUT_DIR,
            help=f"where executed notebooks go (default: {DEFAULT_OUTPUT_DIR})",
        )
        p.add_argument(
            "--results-dir",
            default=None,
            help=f"root for result files (sets {RESULTS_ENV}; default: data/results)",
        )
        p.add_argument("--seed", type=int, default=None, help="seed passed to the notebook")

    run = sub.add_parser("run", help="execute one notebook")
    run.add_argument("target", help=f"experiment ({', '.join(EXPERIMENTS)}) or notebook path")
    common(run)
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="notebook parameter (value read as YAML); repeatable",
    )
    run.set_defaults(func=_cmd_run)

    run_all = sub.add_parser("run-all", help="execute every registered notebook")
    common(run_all)
    run_all.set_defaults(func=_cmd_run_all)

    sweep = sub.add_parser(
        "sweep",
        help="run an experiment over a parameter grid and seeds (local pool or Slurm)",
        description="One notebook execution per grid point and seed, each in "
        "<output-dir>/<experiment>/<profile>/<job-id>/, indexed in index.csv there. "
        "Finished jobs are skipped on a rerun; killed ones resume from their checkpoints.",
    )
    sweep.add_argument("experiment", help=f"experiment ({', '.join(EXPERIMENTS)})")
    sweep.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                       help=f"compute profile (default: {DEFAULT_PROFILE})")
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                       help="a notebook parameter and its values (read as YAML); repeatable, "
                       "the grid is the cartesian product")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per grid point (default: 1)")
    sweep.add_argument("--jobs", type=int, default=None,
                       help="local executor: jobs at once (default: one per GPU, else per CPU core)")
    sweep.add_argument("--force", action="store_true", help="rerun finished jobs from scratch")
    sweep.add_argument("--executor", choices=("local", "slurm", "debug"), default="local",
                       help="local process pool (default), Slurm through submitit, "
                       "or submitit's in-process debug executor")
    sweep.add_argument("--slurm-partition", default=None, help="Slurm partition")
    sweep.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per Slurm job (default: 0)")
    sweep.add_argument("--slurm-time", type=int, default=60, help="time limit per Slurm job, minutes (default: 60)")
    sweep.add_argument("--output-dir", default="_sweeps", help="root of the job folders (default: _sweeps)")
    sweep.set_defaults(func=_cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        parser.error(str(err))  # prints usage and exits with status 2
    return 2
