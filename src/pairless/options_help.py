"""`pairless train --help`: the options that matter, grouped, each with its default.

Without `--model` it lists the data and training options every method shares; with `--model NAME` (and
`--preset P`) also that method's own options, with the defaults that method and preset give. Every option is
a config field: its help is the field's docstring (or, for the options the command declares itself, their
help text), its default the config's value. `pairless models NAME` stays the full reference.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Collection

from pairless.config import RunConfig, section_fields
from pairless.data.config import DataConfig
from pairless.train_config import TrainConfig

GROUPS = {
    "data": ("root", "data_a", "data_b", "size", "load_size", "preprocess", "flip", "serial", "channels_a",
             "channels_b", "direction", "skip_bad_images", "full_frame_decay", "random_scale_max"),
    "schedule": ("steps", "epochs", "decay_fraction", "batch_size", "lr", "beta1", "beta2", "weight_decay", "seed"),
    "logging": ("log_every", "sample_every"),
    "checkpoints": ("save_every", "keep_last", "init_from"),
    "evaluation": ("eval_",),
    "speed": ("device", "precision", "workers", "cache_mb", "pin_memory", "fused_optimizer", "tf32",
              "cudnn_benchmark", "checkpoint_activations", "cuda_graphs"),
}
"""Shared options by group; an entry ending in `_` takes every field that starts with it."""
OPTION_NAMES = {"root": "data", "init_from": "init"}
"""Fields whose command-line option has another name."""
WIDTH = 100


def train_help(method: str | None, preset: str | None, declared: dict[str, str], run_control: Collection[str]) -> str:
    """The help page; `declared` holds the help texts of the options `pairless train` declares itself, and
    `run_control` names those that choose the run rather than set a config field (a field of the same name
    is set as --SECTION.NAME)."""
    cfg = RunConfig.defaults(method, preset) if method else None
    data, train = (cfg.data, cfg.train) if cfg else (DataConfig(), TrainConfig())
    lines = ["Usage: pairless train --model NAME --data FOLDER --out RUN [OPTIONS]",
             "       pairless train --resume RUN [--steps N]      pairless train --init RUN_OR_CHECKPOINT ...", "",
             "Train a model. Every option below is also a config field (config.yaml); a misspelt one is an error",
             "that names the nearest. `pairless models NAME` prints a method's whole configuration and recipe.", ""]
    run = {"model": method or "", "out": "", "resume": "", "config": "", "preset": preset or "", "stop-at": "",
           "quiet": ""}
    lines += _section("run", [(name, value, declared.get(name.replace("-", "_"), "")) for name, value in run.items()])
    for group, names in GROUPS.items():
        lines += _section(group, [_row(section, name, declared) for section in (data, train)
                                  for name in _fields_of(section, names)])
    if cfg is None:
        lines += ["Method options: add --model NAME (`pairless models` lists the methods), e.g. "
                  "`pairless train --model cut --help`."]
    else:
        title = f"{cfg.method} options" + (f" (--preset {preset})" if preset else "")
        lines += _section(title, [_model_row(cfg, name, declared, run_control) for name in section_fields(cfg.model)])
    return "\n".join(lines).rstrip() + "\n"


def _fields_of(section, names: tuple[str, ...]) -> list[str]:
    present = section_fields(section)
    return [name for name in present if any(name == n or (n.endswith("_") and name.startswith(n)) for n in names)]


def _row(section, name: str, declared: dict[str, str]) -> tuple[str, str, str]:
    option = OPTION_NAMES.get(name, name.replace("_", "-"))
    text = declared.get(option.replace("-", "_")) or field_docs(type(section)).get(name, "")
    return option, shown_default(getattr(section, name)), text


def _model_row(cfg: RunConfig, name: str, declared: dict[str, str],
               run_control: Collection[str]) -> tuple[str, str, str]:
    """A method option; one named like an option of the command itself (`init`) is given by its section."""
    if name not in run_control:
        return _row(cfg.model, name, declared)
    option, default, _ = _row(cfg.model, name, {})
    return f"model.{option}", default, field_docs(type(cfg.model)).get(name, "")


def shown_default(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _section(title: str, rows: list[tuple[str, str, str]]) -> list[str]:
    if not rows:
        return []
    lines = [f"{title}:"]
    for option, default, text in rows:
        head = f"  --{option}" + (f" [{default}]" if default else "")
        wrapped = textwrap.wrap(text, WIDTH - 36) or [""]
        lines.append(f"{head:<36}{wrapped[0]}" if len(head) < 35 else head)
        if len(head) >= 35 and text:
            lines.append(" " * 36 + wrapped[0])
        lines += [" " * 36 + more for more in wrapped[1:]]
    return lines + [""]


_FIELD_DOCS: dict[type, dict[str, str]] = {}


def field_docs(cls: type) -> dict[str, str]:
    """The first sentence of each field's docstring (the string under its declaration), from the class and
    its bases."""
    if cls not in _FIELD_DOCS:
        _FIELD_DOCS[cls] = _read_field_docs(cls)
    return _FIELD_DOCS[cls]


def _read_field_docs(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if "__dataclass_fields__" not in vars(base):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(base)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, following in zip(body, body[1:], strict=False):
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[statement.target.id] = _first_sentence(following.value.value)
    return docs


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = re.search(r"(?<!e\.g)(?<!i\.e)\. ", flat)
    return flat if end is None else flat[:end.start() + 1]
