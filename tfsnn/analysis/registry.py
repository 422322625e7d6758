"""Analyses by name: ``tfsnn analyze NAME --checkpoint ... --out ...`` runs one on a trained
checkpoint (:class:`tfsnn.experiment.Trained`) and writes its tidy rows.

An analysis is a function ``f(trained, **options) -> list[dict]`` registered with
``@register("name")``; its keyword arguments are its options (``--option key=value``), checked
here before any work (:func:`tfsnn.options.check_options`): a misspelt option is an error that
names the valid ones, a value of the wrong type (``repeats=two``, ``thresholds=0.9``) one that
names the option.
"""

from __future__ import annotations

from collections.abc import Callable

from tfsnn.options import check_options

__all__ = ["ANALYSES", "register", "analysis_options", "run_analysis"]

ANALYSES: dict[str, Callable] = {}


def register(name: str):
    def decorate(function: Callable) -> Callable:
        if name in ANALYSES:
            raise ValueError(f"analysis {name!r} is already registered")
        ANALYSES[name] = function
        return function

    return decorate


def analysis_options(name: str, options: dict | None = None) -> dict:
    """``options`` of analysis ``name``, checked against its signature before any work."""
    if name not in ANALYSES:
        raise ValueError(f"unknown analysis {name!r}; choose from {sorted(ANALYSES)}")
    return check_options(ANALYSES[name], options or {}, f"analysis {name}: option {{}}", name, skip=1)


def run_analysis(name: str, trained, options: dict | None = None):
    """Rows of analysis ``name`` on ``trained`` with ``options``, as a tidy frame with provenance
    (column ``analysis`` = ``name``). Every analysis runs in ``trained.analysis_context()`` and
    passes ``trained.analysis_precision`` on (fp32: :mod:`tfsnn.precision`)."""
    options = analysis_options(name, options)
    with trained.analysis_context():
        rows = ANALYSES[name](trained, **options)
    return trained.rows(rows, analysis=name, precision=trained.analysis_precision)
