"""Typed run configuration: one dataclass per section, strict loading, overrides from strings.

A run is described by `RunConfig` = method name + the method's model config + `DataConfig` + `TrainConfig`.
Every section is a dataclass with defaults; YAML files and CLI flags override fields by name, and a name
that does not exist is an error that suggests the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

import torch
import yaml
from safetensors import SafetensorError, safe_open

from pairless.data.config import DataConfig
from pairless.errors import PairlessError, writing
from pairless.models.options import ModelConfig
from pairless.models.registry import get_method, get_preset
from pairless.train_config import TrainConfig

IMPORT_RECORD = "import.json"
"""What `pairless import` writes into a run folder beside the weights: the source files, their format and the
inferred settings. Such a run has no training state: new runs start from it with `train --init`."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SECTIONS = ("model", "data", "train")
OPTION_ALIASES = {"data": ("data.root",), "channels": ("data.channels_a", "data.channels_b")}
"""Command-line options that are not named after the one field they set."""


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
        return _coerce_union(value, get_args(tp), key)
    if origin is Literal:
        return _coerce_choice(value, get_args(tp), key)
    if origin is tuple:
        return _coerce_tuple(value, get_args(tp)[0], key)
    if tp not in _SCALARS:
        raise TypeError(f"config field '{key}' has an unsupported type {tp!r}")
    converted = _SCALARS[tp](value)
    if converted is None:
        raise PairlessError(f"option '{key}' expects {_type_name(tp)}, got {value!r}")
    return converted


def _coerce_union(value: Any, args: tuple, key: str) -> Any:
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


def _coerce_choice(value: Any, choices: tuple, key: str) -> Any:
    if value in choices:
        return value
    raise PairlessError(
        f"option '{key}' must be one of {', '.join(map(str, choices))}, got {value!r}"
        + did_you_mean(str(value), map(str, choices))
    )


def _coerce_tuple(value: Any, item_type: Any, key: str) -> tuple:
    items = [s for s in value.replace(" ", "").split(",") if s] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise PairlessError(f"option '{key}' expects a comma-separated list, got {value!r}")
    return tuple(coerce(item, item_type, key) for item in items)


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    return text in _TRUE if text in _TRUE | _FALSE else None


def _to_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _to_str(value: Any) -> str | None:
    if isinstance(value, (str, int, float, os.PathLike)) and not isinstance(value, bool):
        return str(value)
    return None


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}
"""Converters of plain values to each scalar field type; None where the value does not convert."""


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
    model: ModelConfig
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

    @classmethod
    def for_run(cls, model: str | None, config: Path | None, preset: str | None, resume: Path | None,
                out: Path | None, start: RunConfig | None = None) -> tuple[RunConfig, Path]:
        """The settings `pairless train` starts from, and the run folder: a resumed run's own settings, or
        the `config` file's (its method switched to `model` if given) or the `model`'s defaults, then `preset`.
        `start` is the config of the weights the run starts from (`--init`): its method and networks."""
        if resume is not None:
            if start is not None:
                raise PairlessError("--init starts a new run from other weights; --resume continues a run: "
                                    "give one of them")
            return cls._of_run(resume, model, config, out, preset), resume
        model = model or (start.method if start is not None else None)
        if config is not None:
            cfg = cls.load(config)
            if model is not None and model != cfg.method:
                cfg = cls.from_dict({**cfg.to_dict(), "method": model})
        elif model is not None:
            cfg = cls.defaults(model)
        else:
            raise PairlessError("--model is required (e.g. --model cut); `pairless models` lists them")
        if out is None:
            raise PairlessError("--out is required: the run folder to create (e.g. --out runs/h2z)")
        if start is not None:
            cfg = cfg.with_networks_of(start, keep_settings=config is not None)
        elif cfg.train.init_from is not None:  # a run's record of its --init, not a request to repeat it
            cfg = cfg.override({"train.init_from": None})
        return (cfg.with_preset(preset) if preset is not None else cfg), out

    def with_networks_of(self, source: RunConfig, keep_settings: bool = False) -> RunConfig:
        """These settings with `source`'s model section (the architecture of its networks) and channels; with
        `keep_settings`, this section's values of the model fields that leave the networks as they are
        (loss weights, GAN mode, ...: those of a --config file)."""
        if source.method != self.method:
            raise PairlessError(f"--init holds a {source.method} model, not {self.method}: its networks would not "
                                f"fit (drop --model to train a {source.method})")
        a, b = source.data.channels_a, source.data.channels_b
        if source.data.direction != self.data.direction:
            a, b = b, a
        model = source.model
        if keep_settings:
            shapes = _network_shapes(self.method, model, source.data.size, a, b)
            for name in section_fields(model):
                if getattr(self.model, name) is None:  # chosen by the size: keep the source's choice
                    continue
                changed = dataclasses.replace(cast(Any, model), **{name: getattr(self.model, name)})
                if changed != model and _network_shapes(self.method, changed, source.data.size, a, b) == shapes:
                    model = changed
        return dataclasses.replace(self, model=model, data=dataclasses.replace(self.data, channels_a=a, channels_b=b))

    @classmethod
    def _of_run(cls, run_dir: Path, model: str | None, config: Path | None, out: Path | None,
                preset: str | None) -> RunConfig:
        if config is not None or out is not None or preset is not None:
            raise PairlessError("--resume continues a run folder as it is; drop --config / --out / --preset")
        refuse_resuming_an_import(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise PairlessError(f"cannot resume: {run_dir / 'config.yaml'} not found")
        cfg = cls.load(run_dir / "config.yaml")
        if model is not None and model != cfg.method:
            raise PairlessError(f"--model {model} differs from the run's model {cfg.method}")
        return cfg

    def with_run_overrides(self, overrides: dict[str, Any], resuming: bool) -> RunConfig:
        """`override` for a training run: model options stay fixed on resume, and there must be data."""
        if resuming and any(self.locate(k)[0] == "model" for k in overrides):
            raise PairlessError("model options cannot change when resuming (the weights depend on them)")
        cfg = self.override(overrides)
        if not cfg.data.root and not cfg.data.data_a:
            raise PairlessError("--data is required: a folder holding trainA/ and trainB/ (or, for single-image "
                                "training, --data-a and --data-b)")
        return cfg

    def resolved(self) -> RunConfig:
        """Fill the model fields left (None) to be chosen by the crop size `data.size` or other settings.

        ResNet generators' `n_blocks: None` is 9 at 256 px and up, else 6; a model config with a
        `for_size(size)` method fills its own (SinCUT's discriminator depth, U-GAT-IT's γ/β grid,
        DualGAN's U-Net depth, the class-conditional GANs' D steps per backbone).
        """
        model = self.model.for_size(self.data.size)
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

    def is_switch(self, option: str) -> bool:
        """Whether an option is on/off (so `--name` / `--no-name` need no value on the command line); a
        `bool | None` field (None: chosen by the model, e.g. from the crop size) is a switch too."""
        section, name = self.locate(option)
        return get_type_hints(type(getattr(self, section)))[name] in (bool, bool | None)

    def option_overrides(self, options: dict[str, Any]) -> dict[str, Any]:
        """{command-line option: value} -> {section.field: value}, through OPTION_ALIASES or the field of
        that name; `--epochs` without `--steps` lets the epochs decide the steps."""
        keys: dict[str, Any] = {}
        for option, value in options.items():
            name = option.replace("-", "_")
            for key in OPTION_ALIASES[name] if name in OPTION_ALIASES else ["{}.{}".format(*self.locate(name))]:
                keys[key] = value
        if "train.epochs" in keys and "train.steps" not in keys:
            keys["train.steps"] = "none"
        return keys

    def save(self, path: Path) -> None:
        with writing(path):
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """A config file (YAML, as every run folder has), or the config a run folder or checkpoint carries."""
        path = Path(path)
        if path.is_dir():
            if not (path / "config.yaml").is_file():
                raise PairlessError(f"{path} is a folder without config.yaml: give a config file, a run folder or a "
                                    f"checkpoint")
            path = path / "config.yaml"
        if path.suffix == ".safetensors":
            return cls.from_dict(_checkpoint_config(path))
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise PairlessError(f"config file not found: {path}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PairlessError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise PairlessError(f"config file {path} must hold a mapping with 'method', 'model', 'data', 'train'")
        return cls.from_dict(data)


def refuse_resuming_an_import(run_dir: Path) -> None:
    if (run_dir / IMPORT_RECORD).is_file():
        raise PairlessError(f"{run_dir} was imported, not trained here: it has no training state to resume; "
                            f"start a new run from it with --init {run_dir}")


def checkpoint_metadata(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file, read from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as checkpoint:
            return checkpoint.metadata() or {}
    except FileNotFoundError:
        raise PairlessError(f"checkpoint not found: {path}") from None
    except (SafetensorError, OSError) as exc:
        raise PairlessError(f"cannot read checkpoint {path}: {exc}") from None


def metadata_json(metadata: dict[str, str], key: str, kind: type, path: Path):
    """A JSON entry of a checkpoint's metadata, of the given kind (None when absent), or a one-line error."""
    if key not in metadata:
        return None
    try:
        value = json.loads(metadata[key])
    except json.JSONDecodeError as exc:
        raise PairlessError(f"checkpoint {path} is damaged: its {key} is not JSON ({exc})") from None
    if not isinstance(value, kind):
        raise PairlessError(f"checkpoint {path} is damaged: its {key} is a {type(value).__name__}, not a "
                            f"{kind.__name__}")
    return value


def metadata_step(metadata: dict[str, str], path: Path) -> int:
    """The step a checkpoint's metadata records (0 when it records none)."""
    step = metadata.get("step", "0")
    if not step.isdigit():
        raise PairlessError(f"checkpoint {path} is damaged: its step is {step!r}, not a number")
    return int(step)


def _checkpoint_config(path: Path) -> dict:
    """The run config in a pairless checkpoint's metadata."""
    metadata = checkpoint_metadata(path)
    if "config" not in metadata:
        raise PairlessError(f"{path} holds no readable pairless config (its metadata has none)")
    return metadata_json(metadata, "config", dict, path)


def _network_shapes(method: str, model: ModelConfig, size: int, channels_a: int, channels_b: int) -> dict:
    """{state-dict key: shape} of the networks a model config builds (on the meta device: no memory)."""
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        built = get_method(method).model_class.build(model.for_size(size), channels_a, channels_b)
    return {key: tuple(value.shape) for key, value in built.state_dict().items()}
