"""Parameter sweeps: one papermill execution per grid point and seed, on a local pool or a Slurm cluster.

The paper's sweeps (``q`` x separation x ``K`` x seeds, Appendix C) outgrow
one notebook run. A sweep expands a grid of notebook parameters (cartesian
product) times ``seeds`` into jobs; each job executes the experiment's
notebook once, in its own kernel, into its own folder::

    <output-dir>/<experiment>/<profile>/<job-id>/
        <notebook>.ipynb     the executed notebook (the partial one if a cell failed)
        results/             $PLURAL_RESULTS_DIR of the job (save_results writes here)
        checkpoints/         $PLURAL_CHECKPOINT_DIR of the job (runners resume from here)
        done                 written last, atomically: the job finished

and ``<output-dir>/<experiment>/<profile>/index.csv`` gets one row per job
(:data:`INDEX_COLUMNS`), rewritten atomically after every job; aggregating
notebooks read it with :func:`load_index`.

The same job function, :func:`run_job`, runs in a local process pool
(:class:`LocalExecutor`, one GPU per worker when there are GPUs) and on
Slurm through submitit (:class:`SubmititExecutor`; its ``"debug"`` cluster
runs the jobs in this process, which is what the tests use). A job never
raises: a failing cell is recorded in its row and the other jobs go on. A
job with a ``done`` marker is skipped on a rerun unless forced; a job killed
mid-way (preemption, time limit) reruns from its runners' last per-round
checkpoint, and on Slurm it is requeued automatically
(``submitit.helpers.Checkpointable``).
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import datetime as _dt
import importlib.metadata
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import nbformat
import pandas as pd
import submitit
from tqdm import tqdm

import plural_utils

from .checkpoint import CHECKPOINT_ENV, stable_hash
from .cli import KERNEL_MPLBACKEND, KERNEL_NAME, parse_value
from .profiles import OVERRIDES_ENV, get_experiment, get_profile
from .results import REPO_ROOT, RESULTS_ENV, _git_commit, atomic_write_text, to_jsonable

DEFAULT_OUTPUT_DIR = "_sweeps"
INDEX_NAME = "index.csv"
DONE_MARKER = "done"
SET_BY_SWEEP = ("profile", "seed")
INDEX_COLUMNS = (
    "job_id", "experiment", "profile", "seed", "params", "status", "wall_time_s", "device", "host",
    "git_commit", "numpy", "torch", "plural_utils", "papermill", "notebook", "results_dir",
    "checkpoint_dir", "error", "finished",
)
"""Columns of the index, besides one column per grid key (``params`` holds them all as JSON)."""
_TEXT_COLUMNS = ("job_id", "experiment", "profile", "params", "status", "device", "host", "git_commit",
                 "numpy", "torch", "plural_utils", "papermill", "notebook", "results_dir",
                 "checkpoint_dir", "error", "finished")


# --- the grid -------------------------------------------------------------------------------

def split_values(text: str) -> list[str]:
    """Split ``"0.1,[1, 2],'a,b'"`` on the commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p.strip() for p in parts]


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """``["q=0.1,0.5", "K=10,100"]`` -> ``{"q": [0.1, 0.5], "K": [10, 100]}``; values read as YAML."""
    grid: dict[str, list] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(f"bad grid {item!r}: expected key=v1,v2,...")
        if key in grid:
            raise ValueError(f"grid key {key!r} is given twice")
        grid[key] = [parse_value(v) for v in split_values(values)]
    return grid


def expand_grid(grid: Mapping[str, Sequence]) -> list[dict]:
    """The cartesian product of the grid, as one parameter dict per point (last key fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def notebook_parameters(notebook: str | os.PathLike) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (what papermill can set)."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            names = []
            for node in ast.parse(cell.source).body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return []


def validate_grid(experiment: str, profile: str, grid: Mapping[str, Sequence], notebook: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming a grid key the job cannot set, and the keys it can.

    A key is either a parameter of the notebook's ``parameters`` cell (papermill
    sets it) or a key of the profile (the job passes it to ``get_profile``
    through ``PLURAL_PROFILE_OVERRIDES``).
    """
    parameters = [p for p in notebook_parameters(notebook) if p not in SET_BY_SWEEP]
    allowed = parameters + [k for k in get_profile(experiment, profile) if k not in parameters]
    for key, values in grid.items():
        if key in SET_BY_SWEEP:
            raise ValueError(f"grid key {key!r} is set by the sweep itself (use --profile / --seeds)")
        if key in INDEX_COLUMNS:
            raise ValueError(f"grid key {key!r} clashes with a column of the results index")
        if key not in allowed:
            raise ValueError(f"unknown grid key {key!r} for experiment {experiment!r}; allowed keys "
                             f"(parameters of {Path(notebook).name} and keys of the {profile!r} profile): "
                             f"{', '.join(allowed) or 'none'}")
        if not values:
            raise ValueError(f"grid key {key!r} has no values")


# --- jobs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSpec:
    """One notebook execution of a sweep: the grid point ``params`` at ``seed``."""

    experiment: str
    profile: str
    notebook: str
    params: dict
    seed: int
    job_id: str
    folder: str

    @property
    def executed_notebook(self) -> Path:
        return Path(self.folder) / Path(self.notebook).name

    @property
    def results_dir(self) -> Path:
        return Path(self.folder) / "results"

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.folder) / "checkpoints"

    @property
    def done_marker(self) -> Path:
        return Path(self.folder) / DONE_MARKER


def job_id(params: Mapping[str, Any], seed: int) -> str:
    """A readable slug of the parameters and seed plus a short hash of both, stable across runs."""
    slug = "_".join(f"{k}{json.dumps(to_jsonable(v))}" for k, v in params.items())
    slug = re.sub(r"[^A-Za-z0-9.+_-]+", "-", f"{slug}_seed{seed}" if slug else f"seed{seed}").strip("-")
    return f"{slug[:48]}-{stable_hash({'params': dict(params), 'seed': seed}, 8)}"


def sweep_folder(experiment: str, profile: str, output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR) -> Path:
    """``<output-dir>/<experiment>/<profile>``: the job folders and ``index.csv``."""
    return Path(output_dir).resolve() / experiment / profile


def make_jobs(experiment: str, profile: str, grid: Mapping[str, Sequence], seeds: Iterable[int],
              output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR) -> list[JobSpec]:
    """Validate ``grid`` against the experiment's notebook and expand it times ``seeds`` into jobs."""
    exp = get_experiment(experiment)
    get_profile(experiment, profile)  # unknown profile: the message names the allowed ones
    notebook = (REPO_ROOT / exp.notebook).resolve()
    validate_grid(experiment, profile, grid, notebook)
    base = sweep_folder(experiment, profile, output_dir)
    jobs = []
    for params in expand_grid(grid):
        for seed in seeds:
            jid = job_id(params, int(seed))
            jobs.append(JobSpec(experiment, profile, str(notebook), params, int(seed), jid, str(base / jid)))
    return jobs


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernel papermill starts), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def describe_error(err: BaseException) -> str:
    """One line: the failing cell's exception type and message (papermill), else the error's own."""
    ename = getattr(err, "ename", None)
    if ename is not None:
        where = f" (In [{err.exec_count}])" if getattr(err, "exec_count", None) is not None else ""
        return f"{ename}: {' '.join(str(getattr(err, 'evalue', '')).split())}{where}"
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device(gpu: str | None) -> str:
    visible = gpu if gpu is not None else os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return f"cuda:{visible}" if visible else "cpu"


def job_row(spec: JobSpec, status: str, wall_time: float | None = None, device: str = "",
            error: str | None = None) -> dict:
    """The index row of ``spec`` (provenance read where the job ran)."""
    return {
        "job_id": spec.job_id, "experiment": spec.experiment, "profile": spec.profile, "seed": spec.seed,
        **{k: v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(to_jsonable(v))
           for k, v in spec.params.items()},
        "params": json.dumps(to_jsonable(spec.params), sort_keys=True),
        "status": status,
        "wall_time_s": None if wall_time is None else round(wall_time, 3),
        "device": device, "host": socket.gethostname(), "git_commit": _git_commit(),
        "numpy": _version("numpy"), "torch": _version("torch"), "plural_utils": plural_utils.__version__,
        "papermill": _version("papermill"),
        "notebook": str(spec.executed_notebook), "results_dir": str(spec.results_dir),
        "checkpoint_dir": str(spec.checkpoint_dir), "error": error,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def run_job(spec: JobSpec, gpu: str | None = None) -> dict:
    """Execute one job and return its index row; never raises.

    The kernel inherits ``PLURAL_RESULTS_DIR`` and ``PLURAL_CHECKPOINT_DIR``
    pointing into the job's folder (and ``CUDA_VISIBLE_DEVICES=gpu`` when a
    GPU is assigned). The executed notebook is written under a temporary name
    and moved into place at the end, and the ``done`` marker (the row, as
    JSON) is written last, so a kill leaves no finished-looking job behind.
    """
    if spec.done_marker.exists():
        return {**json.loads(spec.done_marker.read_text(encoding="utf-8")), "status": "skipped"}
    import papermill as pm

    Path(spec.folder).mkdir(parents=True, exist_ok=True)
    cell = set(notebook_parameters(spec.notebook))
    notebook_params = {k: v for k, v in spec.params.items() if k in cell}
    profile_values = {k: to_jsonable(v) for k, v in spec.params.items() if k not in cell}
    env = {RESULTS_ENV: str(spec.results_dir), CHECKPOINT_ENV: str(spec.checkpoint_dir),
           OVERRIDES_ENV: json.dumps({spec.experiment: profile_values}), "OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": KERNEL_MPLBACKEND}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    partial = Path(spec.folder) / f".partial-{spec.executed_notebook.name}"
    error, start = None, time.perf_counter()
    try:
        with _environment(env):
            pm.execute_notebook(spec.notebook, str(partial),
                                parameters={"profile": spec.profile, "seed": spec.seed, **notebook_params},
                                kernel_name=KERNEL_NAME, cwd=str(Path(spec.notebook).parent),
                                progress_bar=False)
    except Exception as err:  # a failing cell, a dead kernel: the job's row records it
        error = describe_error(err)
    finally:
        if partial.exists():
            os.replace(partial, spec.executed_notebook)
    row = job_row(spec, "failed" if error else "done", time.perf_counter() - start, _device(gpu), error)
    if error is None:
        atomic_write_text(spec.done_marker, json.dumps(row, indent=2) + "\n")
    return row


# --- executors ------------------------------------------------------------------------------

def visible_gpus() -> list[str]:
    """GPU ids jobs may use: ``$CUDA_VISIBLE_DEVICES`` if set, else those ``nvidia-smi`` lists."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


_WORKER_GPU: str | None = None


def _init_worker(gpu_queue) -> None:
    global _WORKER_GPU
    _WORKER_GPU = None if gpu_queue is None else gpu_queue.get()


def _pool_job(spec: JobSpec) -> dict:
    return run_job(spec, gpu=_WORKER_GPU)


class LocalExecutor:
    """A process pool on this machine: one worker per GPU when there are GPUs, else per CPU core.

    Parameters
    ----------
    max_workers : int, optional
        At most this many jobs at once (default: the number of GPUs, or
        ``os.cpu_count()``); never more than the GPUs, when there are any.
    gpus : list of str, optional
        GPU ids to hand out, one per worker (default :func:`visible_gpus`;
        ``[]`` runs on the CPU).
    """

    def __init__(self, max_workers: int | None = None, gpus: Sequence[str] | None = None):
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        workers = max_workers or len(self.gpus) or os.cpu_count() or 1
        self.max_workers = min(workers, len(self.gpus)) if self.gpus else workers

    def run(self, jobs: Sequence[JobSpec]) -> Iterator[tuple[JobSpec, dict]]:
        """Run ``jobs``; yield ``(spec, row)`` as each finishes."""
        if not jobs:
            return
        ctx = mp.get_context("spawn")  # no fork of a process holding threads (tqdm) and open kernels
        queue = None
        if self.gpus:
            queue = ctx.Queue()
            for gpu in self.gpus[: self.max_workers]:
                queue.put(gpu)
        with cf.ProcessPoolExecutor(min(self.max_workers, len(jobs)), mp_context=ctx,
                                    initializer=_init_worker, initargs=(queue,)) as pool:
            futures = {pool.submit(_pool_job, spec): spec for spec in jobs}
            for future in cf.as_completed(futures):
                spec = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # the worker itself died (e.g. killed by the OOM killer)
                    row = job_row(spec, "failed", error=describe_error(err))
                yield spec, row


class SweepJob(submitit.helpers.Checkpointable):
    """:func:`run_job` as a submitit job; on preemption or time-out Slurm requeues it, and it resumes."""

    def __call__(self, spec: JobSpec) -> dict:
        return run_job(spec)


class SubmititExecutor:
    """Jobs submitted through submitit's ``AutoExecutor``: a Slurm job array, or ``"debug"``/``"local"``.

    Parameters
    ----------
    folder : path
        Where submitit keeps its logs and pickled job specs (``%j`` is the job id).
    cluster : {"slurm", "local", "debug"}
        ``"debug"`` runs every job in this process, ``"local"`` in subprocesses.
    partition : str, optional
        Slurm partition.
    gpus : int
        GPUs per job (``gpus_per_node``).
    time_min : int
        Time limit of one job, in minutes.
    poll_s : float
        How often to ask the scheduler which jobs finished.

    Raises
    ------
    RuntimeError
        From submitit, when ``cluster="slurm"`` and this machine has no ``srun``.
    """

    def __init__(self, folder: str | os.PathLike, cluster: str = "slurm", partition: str | None = None,
                 gpus: int = 0, time_min: int = 60, cpus_per_task: int | None = None, poll_s: float = 10.0):
        self.cluster, self.poll_s = cluster, poll_s
        self.executor = submitit.AutoExecutor(folder=Path(folder) / "%j", cluster=cluster)
        parameters: dict[str, Any] = {"timeout_min": int(time_min), "name": "plural-sweep"}
        if gpus:
            parameters["gpus_per_node"] = int(gpus)
        if cpus_per_task:
            parameters["cpus_per_task"] = int(cpus_per_task)
        if partition:
            parameters["slurm_partition"] = partition
        self.executor.update_parameters(**parameters)

    def run(self, jobs: Sequence[JobSpec]) -> Iterator[tuple[JobSpec, dict]]:
        """Submit ``jobs`` (one array on Slurm); yield ``(spec, row)`` as each finishes."""
        if not jobs:
            return
        with self.executor.batch():
            submitted = [self.executor.submit(SweepJob(), spec) for spec in jobs]
        spec_of = {id(job): spec for job, spec in zip(submitted, jobs)}
        finished = (submitted if self.cluster == "debug"  # debug jobs run when their result is asked for
                    else submitit.helpers.as_completed(submitted, poll_frequency=self.poll_s))
        for job in finished:
            spec = spec_of[id(job)]
            try:
                row = job.result()
            except Exception as err:  # the job died outside the notebook (time limit, node failure)
                row = job_row(spec, "failed", error=describe_error(err))
            yield spec, row


# --- the sweep and its index ----------------------------------------------------------------

def load_index(path: str | os.PathLike) -> pd.DataFrame:
    """The sweep index: one row per job (:data:`INDEX_COLUMNS` plus one column per grid key).

    ``params`` is the job's grid point as JSON (``json.loads`` it); grid
    values that are lists are JSON in their own columns too.
    """
    frame = pd.read_csv(path, dtype={c: "string" for c in _TEXT_COLUMNS})
    return frame.astype({c: object for c in _TEXT_COLUMNS if c in frame}).replace({pd.NA: None})


def write_index(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write the index atomically (grid-key columns go between ``seed`` and ``params``)."""
    frame = pd.DataFrame(list(rows))
    grid_cols = [c for c in frame.columns if c not in INDEX_COLUMNS]
    order = ["job_id", "experiment", "profile", "seed", *grid_cols,
             *[c for c in INDEX_COLUMNS if c not in ("job_id", "experiment", "profile", "seed")]]
    frame = frame.reindex(columns=order)
    return atomic_write_text(path, frame.to_csv(index=False))


def run_sweep(jobs: Sequence[JobSpec], executor, index_path: str | os.PathLike, force: bool = False,
              progress: bool = True) -> list[dict]:
    """Run ``jobs`` on ``executor``, keep ``index_path`` current, return one row per job (in order).

    Jobs with a ``done`` marker are skipped (status ``skipped``, their
    earlier row otherwise kept) unless ``force``, which first deletes their
    folders (executed notebook, results, checkpoints). Rows of other jobs
    already in the index (an earlier sweep over other values) are kept.
    """
    index_path = Path(index_path)
    if force:
        for spec in jobs:
            shutil.rmtree(spec.folder, ignore_errors=True)
    ours = {spec.job_id for spec in jobs}
    earlier = []
    if index_path.exists():
        earlier = [r for r in load_index(index_path).to_dict("records") if r["job_id"] not in ours]
    rows: dict[str, dict] = {}
    pending = []
    for spec in jobs:
        if spec.done_marker.exists():
            rows[spec.job_id] = run_job(spec)  # reads the marker: status "skipped"
        else:
            pending.append(spec)

    def current() -> list[dict]:
        return earlier + [rows[s.job_id] for s in jobs if s.job_id in rows]

    write_index(index_path, current())
    name = f"{jobs[0].experiment}/{jobs[0].profile}" if jobs else "sweep"
    with tqdm(total=len(jobs), initial=len(jobs) - len(pending), desc=f"sweep {name}", unit="job",
              disable=not progress) as bar:
        for spec, row in executor.run(pending):
            rows[spec.job_id] = row
            write_index(index_path, current())
            if row["status"] == "failed":
                bar.write(f"FAILED {spec.job_id}: {row['error']}")
            bar.update()
    return [rows[s.job_id] for s in jobs]


def summary(rows: Sequence[Mapping]) -> str:
    """Counts by status, then one line per failed job: its executed notebook and the failing cell's error."""
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "skipped", "failed")}
    lines = [f"{len(rows)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for r in rows:
        if r["status"] == "failed":
            lines.append(f"  FAILED {r['job_id']}: {r['notebook']}\n    {r['error']}")
    return "\n".join(lines)
