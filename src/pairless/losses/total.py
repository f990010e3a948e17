"""The sum of loss terms, typed as a tensor."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

from torch import Tensor


def total(terms: Iterable[Tensor]) -> Tensor:
    """The terms added in order, as the built-in `sum` adds them (at least one term)."""
    return functools.reduce(operator.add, terms)
