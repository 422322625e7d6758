"""Arrays computed once and kept on disk, so an epoch never re-bins events.

An entry is a folder ``<cache>/<name>-<key>/`` with one ``.npy`` file per array and
``entry.json`` (the key, and each array's shape and dtype); ``<key>`` is a digest of the
caller's ``key`` dict, which holds every parameter that changes the arrays (the source's
identity, the recordings selected, the binning, the format version). An entry is built in a
temporary folder beside it and renamed into place, so an interrupted build leaves no entry
(the next run builds it again, and removes the leftover folder) and nobody reads a half-
written one; an entry found damaged is built again. Arrays come back memory-mapped
read-only, shared by DataLoader workers.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfsnn.data.core import digest

__all__ = ["cached", "CACHE_FORMAT"]

CACHE_FORMAT = 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    for stale in folder.glob(f".tmp-{stem}-*"):  # left by an interrupted build
        if not _alive(int(stale.name.rsplit("-", 1)[1])):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = folder / f".tmp-{stem}-{os.getpid()}"
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
