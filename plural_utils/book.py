"""Stage the Jupyter Book from executed notebooks (the staging step of ``scripts/build_book.sh``).

The book is built from a copy of its sources in which every registered notebook
is replaced by the copy papermill executed at one profile. The copy also gets
what a reader needs and the notebooks themselves must not carry: a line under
each notebook's title saying at which profile, when and from which commit it
ran; MathJax served from the build; and launch buttons when the public
repository is known.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import yaml

from plural_utils.profiles import EXPERIMENTS
from plural_utils.results import REPO_ROOT

REPOSITORY_ENV = "BOOK_REPOSITORY_URL"
STATIC_DIR = "_book_static"  # must match html_static_path in _config.yml
PROFILE_MEANING = {
    "smoke": "tiny sizes that only exercise the code; the numbers illustrate, they do not reproduce",
    "cpu": "sizes for a 2-core laptop; for the theory and synthetic pages, the paper's own settings",
    "paper": "the paper's exact settings",
}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def source_commit() -> str:
    """Short commit of the notebooks and package, marked when they differ from it."""
    sha = _git("rev-parse", "--short", "HEAD")
    if sha is None:
        return "unknown"
    dirty = _git("status", "--porcelain", "--", "notebooks", "plural_utils")
    return f"{sha} + local changes" if dirty else sha


def repository_url() -> str | None:
    """The public GitHub repository: ``$BOOK_REPOSITORY_URL``, else the ``origin`` remote."""
    url = os.environ.get(REPOSITORY_ENV) or _git("remote", "get-url", "origin")
    if not url:
        return None
    match = re.match(r"^(?:git@github\.com:|https://github\.com/)([^/]+/[^/]+?)(?:\.git)?/?$", url)
    return f"https://github.com/{match.group(1)}" if match else None


def profile_note(nb: nbformat.NotebookNode, profile: str, commit: str) -> str:
    """The markdown line saying how the page was executed (papermill metadata)."""
    meta = nb.metadata.get("papermill", {})
    params = dict(meta.get("parameters") or {})
    profile = params.pop("profile", profile)
    date = (meta.get("end_time") or "")[:10] or "an unknown date"
    extra = ", ".join(f"`{k}={v!r}`" for k, v in sorted(params.items()))
    meaning = PROFILE_MEANING.get(profile, "a custom profile")
    line = f"**Executed at profile `{profile}`** ({meaning}) on {date}, commit `{commit}`"
    if extra:
        line += f", with {extra}"
    return f":::{{container}} profile-line\n{line}.\n:::"


def add_profile_note(nb: nbformat.NotebookNode, note: str) -> None:
    """Put ``note`` right under the notebook's title (the first ``# `` heading)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# "):
                cell.source = "\n".join([*lines[: i + 1], "", note, "", *lines[i + 1 :]])
                return
        break
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))


def staged_config(config: dict, repo_url: str | None) -> dict:
    """The book config for a staged build: execution off, launch buttons if the repo is known."""
    config = dict(config)
    config["execute"] = {**config.get("execute", {}), "execute_notebooks": "off"}
    if repo_url:
        branch = _git("rev-parse", "--abbrev-ref", "HEAD") or "main"
        config["repository"] = {"url": repo_url, "path_to_book": "", "branch": branch}
        config["launch_buttons"] = {
            "notebook_interface": "jupyterlab",
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
        }
        config["html"] = {**config.get("html", {}), "use_repository_button": True}
    return config


def stage_book(profile: str, executed: Path, stage: Path, mathjax: Path) -> None:
    """Copy the book sources to ``stage`` with every registered notebook executed at ``profile``.

    Parameters
    ----------
    profile : str
        Profile the notebooks were executed at (``python -m plural_utils run-all``).
    executed : Path
        ``run-all``'s output folder, ``<executed>/<experiment>/<profile>/<notebook>``.
    stage : Path
        Folder to (re)create; ``jupyter-book build <stage>`` builds it.
    mathjax : Path
        MathJax 3 ``es5`` folder (``scripts/fetch_mathjax.sh``), copied to
        ``<stage>/_book_static/mathjax`` and served as ``_static/mathjax``
        (with ``book/book.css`` as ``_static/book.css``).
    """
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)

    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    (stage / "_config.yml").write_text(
        yaml.safe_dump(staged_config(config, repository_url()), sort_keys=False)
    )
    shutil.copy2(REPO_ROOT / "_toc.yml", stage / "_toc.yml")
    shutil.copytree(REPO_ROOT / "book", stage / "book", ignore=ignore)
    shutil.copytree(REPO_ROOT / "notebooks", stage / "notebooks", ignore=ignore)
    shutil.copytree(mathjax, stage / STATIC_DIR / "mathjax")
    shutil.copy2(REPO_ROOT / "book" / "book.css", stage / STATIC_DIR / "book.css")
    results = REPO_ROOT / "data" / "results"
    if results.is_dir():
        # Notebooks may link figures or tables by relative path (../../data/results/...).
        shutil.copytree(results, stage / "data" / "results", ignore=ignore)

    commit = source_commit()
    for name, exp in EXPERIMENTS.items():
        nb = nbformat.read(executed / name / profile / Path(exp.notebook).name, as_version=4)
        add_profile_note(nb, profile_note(nb, profile, commit))
        for cell in nb.cells:
            # The profile line already says what papermill injected.
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
        nbformat.write(nb, stage / exp.notebook)


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated ``<script>`` entries from a page.

    sphinx-thebe registers its inline configuration (``const THEBE_JS_URL = ...``)
    once per read pass, so with Sphinx 7 every page declared the constant twice
    and the browser stopped at a SyntaxError.
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # The repeat has filename "" where the original has None (inline body).
        attributes = getattr(script, "attributes", {})
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict:
    """Sphinx extension hook (``sphinx.extra_extensions`` in ``_config.yml``)."""
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
