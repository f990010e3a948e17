"""Loss totals: the typed sum of terms, and what one optimiser step minimises (`Objective`).

Every method builds each network's objective from its raw loss terms and their declared weights and logs
the same things (`logged`): each raw term under its own name and each network's weighted total as
`total_<net>`, so the curves of different methods mean the same.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor


def total(terms: Iterable[Tensor]) -> Tensor:
    """The terms added in order, as the built-in `sum` adds them (at least one term)."""
    return functools.reduce(operator.add, terms)


@dataclass
class Objective:
    """The loss one optimiser step minimises: raw terms, each entering with its weight (1 when undeclared)."""

    net: str
    terms: dict[str, Tensor]
    weights: Mapping[str, float] = field(default_factory=dict)

    @cached_property
    def total(self) -> Tensor:
        return total(self.weights[name] * term if name in self.weights else term
                     for name, term in self.terms.items())


def logged(*objectives: Objective) -> dict[str, Tensor]:
    """{term: raw value} of every objective, then {total_<net>: its weighted total}."""
    values: dict[str, Tensor] = {}
    for objective in objectives:
        values |= objective.terms
    return values | {f"total_{objective.net}": objective.total for objective in objectives}


def mean_objective(objectives: list[Objective]) -> Objective:
    """Several steps of one network (e.g. a discriminator's steps per generator step) as one objective for
    the log: each term averaged over the steps, detached."""
    first = objectives[0]
    means = {name: torch.stack([o.terms[name].detach() for o in objectives]).mean() for name in first.terms}
    return Objective(first.net, means, first.weights)
