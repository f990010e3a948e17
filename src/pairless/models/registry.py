"""Method registry: one name, one model class and one preset (timm-style)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pairless.errors import PairlessError


@dataclass(frozen=True)
class MethodSpec:
    name: str
    model_class: type
    make_config: Callable[[], Any]
    """Returns the method's model config dataclass with its preset values."""
    description: str = ""
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    """Overrides of TrainConfig defaults (schedule length, learning rate, ...)."""
    data_defaults: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    """Named alternatives to the defaults (e.g. a paper's own setting), chosen with --preset."""


@dataclass(frozen=True)
class Preset:
    """A named set of overrides (`section.field: value`) on top of a method's defaults."""

    description: str
    overrides: Mapping[str, Any]


_METHODS: dict[str, MethodSpec] = {}


def register(name: str, model_class: type, make_config: Callable[[], Any], *, description: str = "",
             train: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
             presets: Mapping[str, Preset] | None = None) -> MethodSpec:
    if name in _METHODS:
        raise ValueError(f"method '{name}' is registered twice")
    spec = MethodSpec(name, model_class, make_config, description, dict(train or {}), dict(data or {}),
                      dict(presets or {}))
    _METHODS[name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    _load_builtin_methods()
    if name not in _METHODS:
        match = difflib.get_close_matches(name, list(_METHODS), n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        raise PairlessError(f"unknown model '{name}'{hint}; available: {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def get_preset(method: str, name: str) -> Preset:
    presets = get_method(method).presets
    if name not in presets:
        match = difflib.get_close_matches(name, list(presets), n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        available = f"available: {', '.join(presets)}" if presets else "it has none"
        raise PairlessError(f"unknown --preset '{name}' for {method}{hint}; {available}")
    return presets[name]


def method_names() -> list[str]:
    _load_builtin_methods()
    return sorted(_METHODS)


def _load_builtin_methods() -> None:
    import pairless.models  # noqa: F401  (importing the package registers its methods)
