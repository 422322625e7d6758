"""Arrays computed once and kept on disk, so an epoch never re-bins events.

An entry is a folder ``<cache>/<name>-<key>/`` with one ``.npy`` file per array and
``entry.json`` (the key, and each array's shape and dtype); ``<key>`` is a digest of the
caller's ``key`` dict, which holds every parameter that changes the arrays (the source's
identity, the recordings selected, the binning, the format version). An entry is built in a
temporary folder ``.tmp-<name>-<key>-<host>-<pid>`` beside it and renamed into place, so an
interrupted build leaves no entry (the next run builds it again) and nobody reads a half-
written one; an entry found damaged is built again. Arrays come back memory-mapped
read-only, shared by DataLoader workers.

The cache may sit on a filesystem shared by several hosts (a cluster), where a process id
means something on its own host only. A leftover temporary folder is therefore removed when it
is of this host and its process is gone, or, whatever its host, when neither it nor any of its
files has changed for ``STALE_HOURS`` hours.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfsnn.data.core import digest

__all__ = ["cached", "CACHE_FORMAT", "STALE_HOURS"]

CACHE_FORMAT = 1
STALE_HOURS = 24  # a temporary folder untouched this long is a leftover, whatever host made it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(tmp: Path, prefix: str) -> bool:
    """Whether the temporary folder ``tmp`` (``<prefix><host>-<pid>``) is left by a build that
    is over: of this host and its process gone, or untouched for ``STALE_HOURS``."""
    host, _, pid = tmp.name.removeprefix(prefix).rpartition("-")
    if host == socket.gethostname() and pid.isdigit():
        return not _alive(int(pid))
    try:
        changed = max(p.stat().st_mtime for p in [tmp, *tmp.iterdir()])
    except OSError:  # removed meanwhile
        return False
    return time.time() - changed > STALE_HOURS * 3600


def _read(entry: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays of a complete, undamaged entry made for ``key``, or None."""
    try:
        manifest = json.loads((entry / "entry.json").read_text())
        if manifest["key"] != key:
            return None
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                  for name in manifest["arrays"]}
    except (OSError, ValueError, KeyError):
        return None
    shapes = {name: [list(a.shape), a.dtype.str] for name, a in arrays.items()}
    return arrays if shapes == manifest["arrays"] else None


def cached(folder: Path, name: str, key: dict, build: Callable[[Path], None]) -> dict[str, np.ndarray]:
    """The arrays of entry ``name``/``key`` in ``folder``, made by ``build(tmp)`` (which writes
    ``.npy`` files into the folder ``tmp``) when absent or damaged."""
    key = json.loads(json.dumps({"cache_format": CACHE_FORMAT, **key}))  # as key.json reads back
    stem = f"{name}-{digest(json.dumps(key, sort_keys=True))}"
    entry = folder / stem
    if entry.is_dir():
        arrays = _read(entry, key)
        if arrays is not None:
            return arrays
        shutil.rmtree(entry, ignore_errors=True)  # damaged: build again
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f".tmp-{stem}-"
    for leftover in folder.glob(f"{prefix}*"):
        if _stale(leftover, prefix):
            shutil.rmtree(leftover, ignore_errors=True)
    tmp = folder / f"{prefix}{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        shapes = {p.stem: [list(a.shape), a.dtype.str] for p in tmp.glob("*.npy") for a in [np.load(p, mmap_mode="r")]}
        (tmp / "entry.json").write_text(json.dumps({"key": key, "arrays": shapes}, sort_keys=True, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:  # another process finished the same entry first
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    arrays = _read(entry, key)
    if arrays is None:
        raise OSError(f"cache entry {entry} could not be read back after it was written")
    return arrays
