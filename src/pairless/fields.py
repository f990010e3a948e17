"""Config fields with declared bounds, and the one check that enforces them.

A section field says its range where it is declared (`width: int = bounded(64, at_least=1)`); every
section derives from `Checked`, whose `__post_init__` checks each declared bound and then runs the
`cross_check` of every class in the section's bases (checks that involve several fields). Nothing in a
chain of mixins can skip either: a field redeclared with a new default keeps the bounds declared above,
and each class's `cross_check` runs without calling `super()`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from typing import Any

from pairless.errors import PairlessError

BOUNDS = "bounds"


@dataclass(frozen=True)
class Bounds:
    """The range of a number (None values pass; a tuple is checked item by item), or its allowed values."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    choices: Collection[Any] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` in words (e.g. "must be at least 1, got 0"), or None."""
        for item in value if isinstance(value, tuple) else (value,):
            if item is not None and not self.admits(item):
                return f"must be {self.describe()}, got {item}"
        return None

    def admits(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        return ((self.at_least is None or value >= self.at_least) and (self.above is None or value > self.above)
                and (self.at_most is None or value <= self.at_most) and (self.below is None or value < self.below))

    def describe(self) -> str:
        """The range in words: "1 or 3", "in [0, 1)", "positive", "0 or more", "at least 2", "below 1"."""
        if self.choices is not None:
            return " or ".join(map(str, sorted(self.choices)))
        low = None if self.at_least is None and self.above is None else (
            f"[{self.at_least:g}" if self.at_least is not None else f"({self.above:g}")
        high = None if self.at_most is None and self.below is None else (
            f"{self.at_most:g}]" if self.at_most is not None else f"{self.below:g})")
        if low and high:
            return f"in {low}, {high}"
        if high:
            return f"at most {self.at_most:g}" if self.at_most is not None else f"below {self.below:g}"
        if self.above is not None:
            return "positive" if self.above == 0 else f"above {self.above:g}"
        return "0 or more" if self.at_least == 0 else f"at least {self.at_least:g}"


def bounded(default: Any, *, at_least: float | None = None, above: float | None = None,
            at_most: float | None = None, below: float | None = None, choices: Collection[Any] | None = None,
            ) -> Any:
    """A dataclass field whose values must lie in the given range (or among `choices`)."""
    return field(default=default, metadata={BOUNDS: Bounds(at_least, above, at_most, below, choices)})


def declared_bounds(cls: type) -> dict[str, Bounds]:
    """Each field's bounds, as declared by the class or the nearest base that declares them."""
    found: dict[str, Bounds] = {}
    for base in reversed(cls.__mro__):
        for name, spec in vars(base).get("__dataclass_fields__", {}).items():
            if BOUNDS in spec.metadata:
                found[name] = spec.metadata[BOUNDS]
    return found


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_fields(section: Any) -> None:
    """Raise a PairlessError naming the option of the first field outside its declared bounds."""
    bounds = declared_bounds(type(section))
    for spec in fields(section):
        if spec.name in bounds and (problem := bounds[spec.name].problem(getattr(section, spec.name))):
            raise PairlessError(f"{option_name(spec.name)} {problem}")


class Checked:
    """Base of every config section: declared bounds and every base's `cross_check`, when it is built."""

    def __post_init__(self) -> None:
        check_fields(self)
        for base in reversed(type(self).__mro__):
            if "cross_check" in vars(base):
                vars(base)["cross_check"](self)

    def cross_check(self) -> None:
        """Checks that involve several fields (each class's own; the bases' run before it)."""

