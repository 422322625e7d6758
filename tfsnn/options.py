"""Options of methods and analyses, checked from their signatures before any work is done.

A method's constructor and an analysis function declare their options as keyword arguments
with type annotations (``t_max: TimeStep = 6``, ``alphas: Sequence[float] = ...``). Those
annotations are the schema: :func:`check_options` validates a config's or a command line's
values against them with pydantic in strict mode, so ``"6"``, ``6.5`` or ``6.0`` for an ``int``,
``0.9`` for a ``Sequence[float]`` or ``"two"`` for ``repeats: int`` are errors naming the option,
never a crash at the first batch. An option without an annotation takes its default's type
(a method from outside the package that annotates nothing is still checked).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError, create_model

__all__ = ["TimeStep", "check_options"]

TimeStep = Annotated[int, Field(ge=1)]
"""A number of time steps: an int >= 1."""

_STRICT = ConfigDict(strict=True, arbitrary_types_allowed=True)


def _annotation(parameter: inspect.Parameter, hints: dict) -> Any:
    if parameter.name in hints:
        return hints[parameter.name]
    default = parameter.default
    if default is inspect.Parameter.empty or default is None:
        return Any
    return type(default)


def check_options(function: Callable, options: dict, where: str, owner: str, skip: int = 0) -> dict:
    """``options`` validated against the keyword parameters of ``function`` (after its first
    ``skip`` parameters); raises ``ValueError`` starting with ``where.format(option)`` (e.g.
    ``"method.{}"``) naming the first bad option, or ``owner``'s valid ones for an unknown name.
    Returns the validated values of ``options``."""
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    accepted = {p.name: p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{where.format(unknown[0])}: not an option of {owner!r}; its options are {list(accepted)}")
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # annotations that do not resolve: check by the defaults' types
        hints = {}
    fields = {
        name: (_annotation(p, hints), ... if p.default is inspect.Parameter.empty else p.default)
        for name, p in accepted.items()
    }
    schema = create_model(f"{getattr(function, '__qualname__', 'options')}_options", __config__=_STRICT, **fields)
    try:
        validated = schema.model_validate(options)
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        option = str(first["loc"][0]) if first["loc"] else "?"
        if first["type"] == "missing":
            raise ValueError(f"{where.format(name)}: a required option is missing") from None
        raise ValueError(f"{where.format(name)}: {first['msg']}, got {options.get(option)!r}") from None
    return {name: getattr(validated, name) for name in options}
