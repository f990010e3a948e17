"""Helpers of the command line (pairless/cli.py): the option parser, progress bars, paths as run folders
keep them, `train --help`'s page, and the one-line form of warnings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import typer

from pairless.errors import PairlessError

if TYPE_CHECKING:
    from pairless.config import RunConfig


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar with the time left, on a terminal (standard error); yields `update(done, total)`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)

def parse_options(args: list[str], is_switch: Callable[[str], bool]) -> dict[str, str]:
    """`--name value`, `--name=value`, `--name` / `--no-name` (for names `is_switch` calls on/off)
    -> {name: value as given}."""
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--"):
            raise PairlessError(f"unexpected argument '{token}'")
        name, _, value = token[2:].partition("=")
        negated = name.startswith("no-") and not value
        name = name[3:] if negated else name
        if is_switch(name) and not value:
            value = "false" if negated else "true"
        elif negated:
            raise PairlessError(f"--no-{name}: '--no-' only applies to on/off options")
        elif not value:
            if i + 1 >= len(args):
                raise PairlessError(f"option --{name} needs a value")
            i += 1
            value = args[i]
        options[name] = value
        i += 1
    return options

def init_config(source: Path) -> RunConfig:
    """The config of the run folder or checkpoint `train --init` starts from."""
    from pairless.config import RunConfig
    from pairless.nn.init import InitScheme

    if not source.exists():
        scheme = str(source) in get_args(InitScheme)
        hint = f" (the weight initialisation scheme is --model.init {source})" if scheme else ""
        raise PairlessError(f"--init {source}: no such run folder or checkpoint{hint}")
    return RunConfig.load(source)


def absolute(path: Path) -> Path:
    """A data path as config.yaml keeps it: `~` expanded (also when quoted) and absolute, so the run folder
    finds its data from anywhere (resume, evaluate, serve's examples)."""
    return path.expanduser().resolve()

def seeds_of(text: str) -> list[int]:
    try:
        return [int(item) for item in split_list(text)]
    except ValueError:
        raise PairlessError(f"--seeds takes comma-separated integers, got {text!r}") from None


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]

def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings (e.g. skipped images) as `warning: ...`, without Python's source location and line."""
    return f"warning: {message}\n"


def train_help_requested(args: list[str]) -> bool:
    return bool(args) and args[0] == "train" and any(a in ("--help", "-h") for a in args[1:])


def print_train_help(args: list[str], command, run_control: frozenset[str]) -> None:
    """`pairless train [--model NAME] [--preset P] --help`: the grouped options with their defaults, for the
    method when one is named (pairless/options_help.py)."""
    from pairless.options_help import train_help

    def value_of(option: str) -> str | None:
        for i, token in enumerate(args):
            if token == option and i + 1 < len(args):
                return args[i + 1]
            if token.startswith(option + "="):
                return token.split("=", 1)[1]
        return None

    declared = {str(param.name): getattr(param, "help", None) or "" for param in command.params}
    typer.echo(train_help(value_of("--model"), value_of("--preset"), declared, run_control), nl=False)
