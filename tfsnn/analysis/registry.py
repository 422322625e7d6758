"""Analyses by name: ``tfsnn analyze NAME --checkpoint ... --out ...`` runs one on a trained
checkpoint (:class:`tfsnn.experiment.Trained`) and writes its tidy rows.

An analysis is a function ``f(trained, **options) -> list[dict]`` registered with
``@register("name")``; its keyword arguments are its options (``--option key=value``), checked
here so a misspelt option is an error that names the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

__all__ = ["ANALYSES", "register", "run_analysis"]

ANALYSES: dict[str, Callable] = {}


def register(name: str):
    def decorate(function: Callable) -> Callable:
        if name in ANALYSES:
            raise ValueError(f"analysis {name!r} is already registered")
        ANALYSES[name] = function
        return function

    return decorate


def run_analysis(name: str, trained, options: dict | None = None):
    """Rows of analysis ``name`` on ``trained`` with ``options``, as a tidy frame with provenance
    (column ``analysis`` = ``name``)."""
    if name not in ANALYSES:
        raise ValueError(f"unknown analysis {name!r}; choose from {sorted(ANALYSES)}")
    function = ANALYSES[name]
    accepted = list(inspect.signature(function).parameters)[1:]
    unknown = sorted(set(options or {}) - set(accepted))
    if unknown:
        raise ValueError(f"analysis {name!r} has no option {', '.join(unknown)}; its options: {accepted}")
    return trained.rows(function(trained, **(options or {})), analysis=name)
