"""The stack fingerprint: everything that decides a seeded CPU run's floating-point bits.

Seeded runs are bitwise identical on one stack, not across stacks. What decides the bits:

- torch (with its build tag) and the other numerical packages (``PACKAGES``): torch's
  kernels, numpy's and scipy's (the FSDD cochlea is float arithmetic in numpy and scipy's
  FFT), Pillow's JPEG decoder, tonic's event binning;
- the CPU: its vendor, family, model and stepping (MKL and oneDNN pick kernels and loop
  blocking by CPU model and cache sizes), the instruction-set features they and numpy dispatch
  on (``ISA_FEATURES``), ATen's vector capability, and any variable that pins a dispatch
  (``PIN_VARIABLES``);
- the number of intra-op threads (a reduction split over threads sums in another order);
- the execution settings that pick kernels (:mod:`tfsnn.execution`): the LIF backend and the
  memory layout;
- the GPU with its CUDA and cuDNN versions, where one is visible.

:func:`fingerprint` gives these as a flat dict of strings, :func:`stack_text` as one line (the
``stack`` column of every result row), :func:`stack_id` as a 12-digit digest (``stack_id``),
and :func:`differences` names the parts that two fingerprints do not share. A training writes
its fingerprint beside its checkpoint (:func:`record`: ``environment.json``); the bitwise checks
compare the fingerprints of the rows they compare and expect the same bits only where they agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["ENVIRONMENT_FILE", "PACKAGES", "ISA_FEATURES", "PIN_VARIABLES", "fingerprint", "stack_text", "stack_id",
           "parse_stack", "differences", "record"]

ENVIRONMENT_FILE = "environment.json"

PACKAGES = ("torchvision", "numpy", "scipy", "pillow", "tonic")
# the /proc/cpuinfo flags that MKL, oneDNN, ATen and numpy choose their kernels by
ISA_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512dq", "avx512cd", "avx512bw",
                "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512ifma", "avx512vbmi",
                "avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq", "amx_tile", "amx_bf16", "amx_int8")
# variables that pin a library's dispatch to an instruction set or a code path
PIN_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR",
                 "MKL_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES")


@lru_cache(maxsize=None)
def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=1)
def _cpu() -> dict:
    """The CPU's identity, the ISA features of ``ISA_FEATURES`` it has, and its caches (Linux
    ``/proc/cpuinfo`` and sysfs; elsewhere what :mod:`platform` knows)."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if not key:
                break  # the first processor's block is enough
            info.setdefault(key, value)
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        caches.append(f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''} {size}")
    identity = " ".join(f"{label} {info.get(key, '?')}" for label, key in (
        ("vendor", "vendor_id"), ("family", "cpu family"), ("model", "model"), ("stepping", "stepping")))
    return {
        "cpu": f"{identity} ({info.get('model name', platform.processor() or 'unknown')})",
        "isa": " ".join(f for f in ISA_FEATURES if f in flags),
        "caches": ", ".join(caches),
    }


def fingerprint() -> dict:
    """This process's stack: the numerical packages' versions, Python, the machine, the CPU,
    ATen's capability, the dispatch pins that are set, torch's intra-op threads, the execution
    settings and the GPU."""
    import torch

    from tfsnn import execution

    return {
        "torch": torch.__version__,  # with its build tag (+cu130, +cpu)
        **{package: _version(package) for package in PACKAGES},
        "python": platform.python_version(),
        "machine": platform.machine(),
        **_cpu(),
        "aten": torch.backends.cpu.get_cpu_capability(),
        "pins": " ".join(f"{name}={os.environ[name]}" for name in PIN_VARIABLES if os.environ.get(name)),
        "threads": str(torch.get_num_threads()),
        **execution.settings(),
        "gpu": (f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
                if torch.cuda.is_available() else "none"),
    }


def stack_text(stack: dict) -> str:
    """``stack`` as one line of ``key=value`` parts joined by ``"; "`` (:func:`parse_stack` reads it)."""
    return "; ".join(f"{key}={value}" for key, value in stack.items())


def parse_stack(text: str) -> dict:
    """The fingerprint :func:`stack_text` wrote as ``text``."""
    return dict(part.split("=", 1) for part in text.split("; ") if "=" in part)


def stack_id(stack: dict) -> str:
    """A short digest of ``stack``: rows with the same ``stack_id`` were made on one stack."""
    return hashlib.sha256(stack_text(stack).encode()).hexdigest()[:12]


def differences(recorded: dict, here: dict) -> list[str]:
    """The parts of two fingerprints that differ, as ``key: recorded -> here`` (empty: the same
    stack, where seeded runs give the same bits). A key one side lacks (a record made before a
    part was fingerprinted) differs."""
    return [f"{key}: {recorded.get(key, 'unrecorded')} -> {here.get(key, 'unrecorded')}"
            for key in dict.fromkeys([*recorded, *here]) if recorded.get(key) != here.get(key)]


def record(folder) -> dict:
    """Write this process's fingerprint to ``folder/environment.json`` and return it. A run
    resumed on another stack keeps its first stack and lists the later ones in ``resumed_on``
    (its bits are then those of no single stack)."""
    from tfsnn.io import atomic_path

    stack, path = fingerprint(), Path(folder) / ENVIRONMENT_FILE
    if path.is_file():
        first = json.loads(path.read_text())
        earlier = {key: value for key, value in first.items() if key != "resumed_on"}
        if differences(earlier, stack):
            stack = {**first, "resumed_on": " | ".join(filter(None, [first.get("resumed_on"), stack_text(stack)]))}
        else:
            stack = first
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(stack, indent=2) + "\n")
    return stack
