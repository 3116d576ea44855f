"""Where the course keeps its data, independent of the working directory."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path | None:
    """The checkout this package lives in (editable install), or None for a plain install."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else None


def default_data_root() -> Path:
    """``$DBDGCN_DATA``, else ``<repo>/data``, else ``~/.cache/dbdgcn``."""
    env = os.environ.get("DBDGCN_DATA")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / "data"
    return Path.home() / ".cache" / "dbdgcn"


def default_runs_root() -> Path:
    """Where the notebooks keep their training runs: ``$DBDGCN_RUNS``, else ``<repo>/runs``, else
    ``~/.cache/dbdgcn/runs``."""
    env = os.environ.get("DBDGCN_RUNS")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return (root if root is not None else Path.home() / ".cache" / "dbdgcn") / "runs"


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a message shows it: relative to the repository when inside it (``data/coco``, which
    the course's commands, run from the repository's folder, accept), ``$DBDGCN_DATA/...`` or
    ``$DBDGCN_RUNS/...`` inside a data or runs root set by those variables (a shell expands it),
    ``~/...`` inside the home folder, else as given. Notebooks print no path of the machine that ran
    them."""
    path = Path(path).expanduser()
    if not path.is_absolute():
        return str(path)
    bases = [(repo_root(), "")]
    for var in ("DBDGCN_DATA", "DBDGCN_RUNS"):  # roots set outside the repository, as "$DBDGCN_DATA/coco"
        if os.environ.get(var):
            bases.append((Path(os.environ[var]).expanduser(), f"${var}/"))
    for base, prefix in (*bases, (Path.home(), "~/")):
        for candidate in (path, path.resolve()):  # the repository's path is resolved: so is a link
            if base is not None and candidate.is_relative_to(base):
                relative = candidate.relative_to(base).as_posix()
                return prefix + relative if relative != "." else (prefix.rstrip("/") or ".")
    return str(path)
