"""Declared bounds: every bounded field of every section rejects a value outside its range, naming the
option; values inside pass; a redeclared default keeps the bounds declared above it."""

from dataclasses import dataclass, fields

import pytest

from pairless.config import SECTIONS, RunConfig
from pairless.errors import PairlessError
from pairless.fields import Bounds, Checked, bounded, declared_bounds, option_name
from pairless.models.registry import method_names


def outside(bounds: Bounds):
    """A value just outside the range (or not among the choices)."""
    if bounds.choices is not None:
        return "unknown" if all(isinstance(c, str) for c in bounds.choices) else max(bounds.choices) + 1
    if bounds.at_least is not None:
        return bounds.at_least - 1
    if bounds.above is not None:
        return bounds.above
    return bounds.at_most + 1 if bounds.at_most is not None else bounds.below


def bounded_options():
    """(method, section, field, bounds) of every bounded field of every section class the registered
    methods use (the data and training sections once)."""
    found, seen = [], set()
    for method in method_names():
        cfg = RunConfig.defaults(method)
        for section in SECTIONS:
            kind = type(getattr(cfg, section))
            for name, bounds in declared_bounds(kind).items():
                if (kind, name) not in seen:
                    seen.add((kind, name))
                    found.append(pytest.param(method, section, name, bounds, id=f"{method}-{section}.{name}"))
    return found


@pytest.mark.parametrize(("method", "section", "name", "bounds"), bounded_options())
def test_every_bounded_field_rejects_an_out_of_range_value_naming_the_option(method, section, name, bounds):
    cfg = RunConfig.defaults(method)
    bad = outside(bounds)
    value = (bad,) if isinstance(getattr(getattr(cfg, section), name), tuple) else bad
    with pytest.raises(PairlessError, match=rf"^{option_name(name)} must be .*, got {bad}(\.0)?$"):
        cfg.override({f"{section}.{name}": value})


@pytest.mark.parametrize("settings", ["EvalSettings", "ServeSettings"])
def test_the_evaluate_and_serve_settings_reject_out_of_range_values_naming_the_option(settings):
    from pairless.eval.evaluate import EvalSettings
    from pairless.serve import ServeSettings

    kind = {"EvalSettings": EvalSettings, "ServeSettings": ServeSettings}[settings]
    bounds = declared_bounds(kind)
    assert bounds and kind()  # the defaults pass
    for name, bound in bounds.items():
        bad = outside(bound)
        with pytest.raises(PairlessError, match=rf"^{option_name(name)} must be .*, got {bad}(\.0)?$"):
            kind(**{name: bad})


def test_each_method_declares_bounds_for_its_sizes_and_counts():
    for method in method_names():
        model = RunConfig.defaults(method).model
        names = {f.name for f in fields(model)}
        assert {"width"} <= names and "width" in declared_bounds(type(model)), method


@dataclass
class Base(Checked):
    width: int = bounded(64, at_least=1)
    rate: float = bounded(0.5, at_least=0, below=1)


@dataclass
class Narrow(Base):
    width: int = 8
    """Redeclared with a new default only."""
    seen: int = 0

    def cross_check(self) -> None:
        if self.seen:
            raise PairlessError("--seen must stay 0")


def test_a_redeclared_field_keeps_its_bounds_and_cross_checks_need_no_super():
    assert Narrow().width == 8
    with pytest.raises(PairlessError, match="^--width must be at least 1, got 0$"):
        Narrow(width=0)
    with pytest.raises(PairlessError, match=r"^--rate must be in \[0, 1\), got 1$"):
        Narrow(rate=1)
    with pytest.raises(PairlessError, match="--seen"):
        Narrow(seen=1)


@pytest.mark.parametrize(("bounds", "inside", "words"), [
    (Bounds(at_least=0), 0, "0 or more"), (Bounds(above=0), 1e-9, "positive"),
    (Bounds(at_least=2), 2, "at least 2"), (Bounds(at_least=0, at_most=1), 1, "in [0, 1]"),
    (Bounds(choices=(1, 3)), 3, "1 or 3"),
])
def test_values_inside_pass_and_the_range_reads_as_words(bounds, inside, words):
    assert bounds.problem(inside) is None and bounds.problem(None) is None
    assert bounds.problem(outside(bounds)) == f"must be {words}, got {outside(bounds)}"
