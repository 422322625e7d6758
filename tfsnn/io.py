"""Atomic file output, checkpoints and the provenance every result row carries.

torch is imported only by the checkpoint functions and by :func:`provenance` (the stack
fingerprint names torch's build and kernels), so the workflow's small jobs (configs, tables)
start without it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

import tfsnn

__all__ = [
    "SCHEMA_VERSION",
    "CHECKPOINT_FORMAT",
    "atomic_path",
    "copy_atomic",
    "write_csv",
    "write_records",
    "read_records",
    "item_correctness",
    "save_checkpoint",
    "load_checkpoint",
    "save_finished_checkpoint",
    "TRAINING_STATE",
    "CheckpointError",
    "provenance",
    "with_provenance",
]

SCHEMA_VERSION = 1
_UMASK = os.umask(0o022)
os.umask(_UMASK)
CHECKPOINT_FORMAT = "tfsnn-checkpoint/1"
# what only resuming a training needs: a finished run is kept without it (about half its size)
TRAINING_STATE = ("optimizer", "scheduler", "scaler")


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically,
    on error it is removed, so a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_atomic(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source`` to ``target`` through :func:`atomic_path`."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_records(arrays: dict, path: str | os.PathLike, **fields) -> None:
    """Per-item records (arrays of one value per test item, or per configuration and item) as an
    ``.npz`` file beside a CSV, written atomically, with the provenance of :func:`provenance`
    (``fields``: the rows' own) as one JSON string under ``provenance``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays, provenance=np.array(json.dumps(provenance(**fields), sort_keys=True)))


def read_records(path: str | os.PathLike) -> tuple[dict, dict]:
    """The arrays and the provenance of a :func:`write_records` file (no pickles loaded)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if "provenance" not in arrays:
        raise ValueError(f"{path} holds no provenance: not a tfsnn per-item record")
    return arrays, json.loads(str(arrays.pop("provenance")))


def item_correctness(arrays: dict) -> np.ndarray:
    """``[rows, items]`` in [0, 1] from a :func:`read_records` file's arrays: an evaluation's
    (``predicted``, ``target``) 1.0 where the predicted class is the item's, an analysis's
    ``correct`` as stored (a share over repeats)."""
    if "predicted" in arrays:
        return (arrays["predicted"] == arrays["target"][None, :]).astype(float)
    return arrays["correct"].astype(float)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, damaged, or of another format."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Save ``state`` atomically; the same state gives the same bytes (written through a file
    object, whose zip archive torch names ``archive``, not after the temporary file)."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, file)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for damaged or unsafe files
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: {err}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path} has format {found!r}, expected {CHECKPOINT_FORMAT!r}")
    return state


def save_finished_checkpoint(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Write ``source`` to ``target`` without its ``TRAINING_STATE``: everything an evaluation or
    analysis reads (weights, training BN statistics, epoch snapshots, history), nothing to resume."""
    state = load_checkpoint(source)
    save_checkpoint({k: v for k, v in state.items() if k not in TRAINING_STATE}, target)


def _git(*args: str) -> str:
    root = Path(tfsnn.__file__).resolve().parent.parent
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@lru_cache(maxsize=1)
def _code_version() -> dict:
    commit = _git("rev-parse", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "tfsnn")) if commit != "unknown" else None
    return {
        "schema_version": SCHEMA_VERSION,
        "git_commit": commit,
        "git_dirty": dirty,
        "tfsnn_version": tfsnn.__version__,
        "torch_version": version("torch"),
        "python_version": platform.python_version(),
    }


def provenance(**fields) -> dict:
    """Provenance columns: schema version, code and package versions, the stack fingerprint
    that decides the bits (:mod:`tfsnn.stack`: ``stack_id`` and the ``stack`` itself), plus
    ``fields`` (config hash, seed, scale, dataset, data source, ...). The stack is taken afresh
    (a process may change its threads), the code version once per process."""
    from tfsnn.stack import fingerprint, stack_id, stack_text

    stack = fingerprint()
    return {**_code_version(), "stack_id": stack_id(stack), "stack": stack_text(stack), **fields}


def with_provenance(rows: list[dict] | pd.DataFrame, **fields) -> pd.DataFrame:
    """A tidy frame of ``rows`` with the provenance columns appended."""
    frame = pd.DataFrame(rows).copy()
    if "T" in frame:  # uniform T, or empty for rows without one
        frame["T"] = frame["T"].astype("Int64")
    for key, value in provenance(**fields).items():
        frame[key] = value
    return frame

