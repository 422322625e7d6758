"""The stack fingerprint (what decides a seeded run's bits) and the lock every README command
installs from."""

import json
import tomllib
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tfsnn import stack as tfstack
from tfsnn.stack import differences, fingerprint, parse_stack, record, stack_id, stack_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_fingerprint_names_the_packages_cpu_kernels_and_threads(one_thread, monkeypatch):
    for name in tfstack.PIN_VARIABLES:  # e.g. the suite run under ATEN_CPU_CAPABILITY=default
        monkeypatch.delenv(name, raising=False)
    stack = fingerprint()
    assert stack["torch"] == torch.__version__ and stack["aten"] == torch.backends.cpu.get_cpu_capability()
    assert {"numpy", "scipy", "pillow", "tonic", "torchvision", "python", "machine", "cpu", "isa", "caches",
            "pins", "gpu"} <= set(stack)
    assert stack["threads"] == "1" and stack["pins"] == ""
    assert "family" in stack["cpu"] and "model" in stack["cpu"]  # the CPU model, not only its ISA
    torch.set_num_threads(2)
    assert differences(stack, fingerprint()) == ["threads: 1 -> 2"]
    assert stack_id(stack) != stack_id(fingerprint())
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert fingerprint()["pins"] == "MKL_CBWR=AVX2"


def test_a_stack_written_as_a_row_reads_back():
    stack = {**fingerprint(), "pins": "ATEN_CPU_CAPABILITY=default MKL_CBWR=AVX2"}
    assert parse_stack(stack_text(stack)) == stack
    assert len(stack_id(stack)) == 12
    # a record made before the full fingerprint (torch version, capability and machine only)
    old = {"torch_version": "2.14.1+cu130", "cpu_capability": "AVX512", "machine": "x86_64"}
    assert "torch_version: 2.14.1+cu130 -> unrecorded" in differences(old, stack)
    assert f"cpu: unrecorded -> {stack['cpu']}" in differences(old, stack)


def test_a_run_resumed_on_another_stack_says_so(tmp_path, monkeypatch):
    first = record(tmp_path)
    assert json.loads((tmp_path / "environment.json").read_text()) == first == fingerprint()
    assert record(tmp_path) == first  # resumed on the same stack: one stack
    elsewhere = {**first, "cpu": "vendor GenuineIntel family 6 model 143 stepping 8"}
    monkeypatch.setattr(tfstack, "fingerprint", lambda: elsewhere)
    resumed = record(tmp_path)
    assert {k: v for k, v in resumed.items() if k != "resumed_on"} == first
    assert resumed["resumed_on"] == stack_text(elsewhere)
    assert differences(resumed, elsewhere)  # its bits are no single stack's


def _locked() -> dict[str, tuple[str, list[str]]]:
    """The lock's pins: name -> (version, hashes)."""
    pins, name = {}, None
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            name, rest = line.split("==", 1)
            name = canonicalize_name(name)
            pins[name] = (rest.split()[0].split(";")[0], [])
        elif line.startswith("--hash=sha256:") and name:
            pins[name][1].append(line.split(":", 1)[1].split()[0])
    return pins


def test_every_dependency_of_the_readme_commands_is_locked_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"]] + [dep for extra in ("dag", "deploy", "test")
                                           for dep in project["optional-dependencies"][extra]]
    pins = _locked()
    for dependency in map(Requirement, wanted):
        if canonicalize_name(dependency.name) == "tfsnn":
            continue  # the project's own extras, listed above
        name = canonicalize_name(dependency.name)
        assert name in pins, f"{name} is not in requirements-lock.txt: compile it again (README)"
        locked, hashes = pins[name]
        assert dependency.specifier.contains(locked, prereleases=True), (name, locked, str(dependency.specifier))
        assert hashes, f"{name} has no hash in the lock"
    # the deliberate pins (constraints.txt, an input of the lock) are what the lock holds
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pin = Requirement(line)
            assert pin.specifier.contains(pins[canonicalize_name(pin.name)][0]), line
