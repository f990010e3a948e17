"""Typed run configuration: one dataclass per section, strict loading, overrides from strings.

A run is described by `RunConfig` = method name + the method's model config + `DataConfig` + `TrainConfig`.
Every section is a dataclass with defaults; YAML files and CLI flags override fields by name, and a name
that does not exist is an error that suggests the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from pairless.data.config import DataConfig
from pairless.errors import PairlessError, writing
from pairless.models.registry import get_method, get_preset
from pairless.train.config import TrainConfig

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SECTIONS = ("model", "data", "train")


def did_you_mean(name: str, candidates) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(tp) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert `value` (from YAML or a command line string) to the annotated type `tp`, or fail clearly."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (value is None or str(value).lower() in {"none", "null", "auto"}):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except PairlessError as exc:
                errors.append(str(exc))
        raise PairlessError(errors[0] if errors else f"option '{key}' has an invalid value {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise PairlessError(
            f"option '{key}' must be one of {', '.join(map(str, choices))}, got {value!r}"
            + did_you_mean(str(value), map(str, choices))
        )
    if origin is tuple:
        item_type = get_args(tp)[0]
        items = [s for s in value.replace(" ", "").split(",") if s] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise PairlessError(f"option '{key}' expects a comma-separated list, got {value!r}")
        return tuple(coerce(item, item_type, key) for item in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif tp is str:
        if isinstance(value, (str, int, float, os.PathLike)) and not isinstance(value, bool):
            return str(value)
    else:
        raise TypeError(f"config field '{key}' has an unsupported type {tp!r}")
    raise PairlessError(f"option '{key}' expects {_type_name(tp)}, got {value!r}")


def section_from_dict(cls: type, data: dict, section: str):
    """Build a config dataclass from a mapping; unknown keys are errors naming the nearest valid key."""
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            raise PairlessError(f"unknown option '{key}' in {section}{did_you_mean(key, names)}")
    return cls(**{key: coerce(value, hints[key], f"{section}.{key}") for key, value in data.items()})


def section_to_dict(cfg) -> dict:
    return {f.name: _plain(getattr(cfg, f.name)) for f in fields(cfg)}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def section_fields(cfg) -> list[str]:
    return [f.name for f in fields(cfg)]


@dataclass
class RunConfig:
    method: str
    model: Any
    data: DataConfig
    train: TrainConfig

    @classmethod
    def defaults(cls, method: str, preset: str | None = None) -> RunConfig:
        """The method's defaults: its model config plus its training and data overrides, then the named
        `preset`'s overrides if one is given."""
        spec = get_method(method)
        cfg = cls(
            method=spec.name,
            model=spec.make_config(),
            data=dataclasses.replace(DataConfig(), **spec.data_defaults),
            train=dataclasses.replace(TrainConfig(), **spec.train_defaults),
        )
        return cfg.with_preset(preset) if preset else cfg

    def with_preset(self, preset: str) -> RunConfig:
        """These settings with the overrides of the method's named preset (e.g. `cifar10-paper`)."""
        return self.override(dict(get_preset(self.method, preset).overrides))

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        unknown = set(data) - {"method", *SECTIONS}
        if unknown:
            key = sorted(unknown)[0]
            raise PairlessError(f"unknown config key '{key}'{did_you_mean(key, ['method', *SECTIONS])}")
        if "method" not in data:
            raise PairlessError("the config has no 'method' (e.g. method: cut)")
        base = cls.defaults(data["method"])
        return base.override({f"{s}.{k}": v for s in SECTIONS for k, v in (data.get(s) or {}).items()})

    def resolved(self) -> RunConfig:
        """Fill the model fields left (None) to be chosen by the crop size `data.size` or other settings.

        ResNet generators' `n_blocks: None` is 9 at 256 px and up, else 6; a model config with a
        `for_size(size)` method fills its own (SinCUT's discriminator depth, U-GAT-IT's γ/β grid,
        DualGAN's U-Net depth, the class-conditional GANs' D steps per backbone).
        """
        model = self.model
        if getattr(model, "n_blocks", 0) is None:
            model = dataclasses.replace(model, n_blocks=9 if self.data.size >= 256 else 6)
        if hasattr(model, "for_size"):
            model = model.for_size(self.data.size)
        return self if model is self.model else dataclasses.replace(self, model=model)

    def to_dict(self) -> dict:
        return {"method": self.method, **{s: section_to_dict(getattr(self, s)) for s in SECTIONS}}

    def override(self, updates: dict[str, Any]) -> RunConfig:
        """Apply `{key: value}` overrides; a key is `section.field` or a bare field name."""
        changes: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
        for key, value in updates.items():
            section, name = self.locate(key)
            changes[section][name] = value
        new = {}
        for section in SECTIONS:
            current = section_to_dict(getattr(self, section))
            current.update(changes[section])
            new[section] = section_from_dict(type(getattr(self, section)), current, section)
        return RunConfig(method=self.method, **new)

    def locate(self, key: str) -> tuple[str, str]:
        """The section and field a (possibly bare, possibly dashed) option name refers to."""
        key = key.replace("-", "_")
        if "." in key:
            section, name = key.split(".", 1)
            if section not in SECTIONS:
                raise PairlessError(f"unknown config section '{section}'{did_you_mean(section, SECTIONS)}")
            names = section_fields(getattr(self, section))
            if name not in names:
                raise PairlessError(f"unknown option '{name}' in {section}{did_you_mean(name, names)}")
            return section, name
        for section in SECTIONS:
            if key in section_fields(getattr(self, section)):
                return section, key
        every = [n for s in SECTIONS for n in section_fields(getattr(self, s))]
        raise PairlessError(f"unknown option '{key}' for method '{self.method}'{did_you_mean(key, every)}")

    def is_switch(self, section: str, name: str) -> bool:
        """Whether a field is on/off (so `--name` / `--no-name` need no value on the command line)."""
        return get_type_hints(type(getattr(self, section)))[name] is bool

    def save(self, path: Path) -> None:
        with writing(path):
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise PairlessError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise PairlessError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise PairlessError(f"config file {path} must hold a mapping with 'method', 'model', 'data', 'train'")
        return cls.from_dict(data)

