"""Which way is better for each evaluation metric (used to keep the best checkpoint)."""

from __future__ import annotations

import math

from pairless.errors import PairlessError

LOWER_IS_BETTER = frozenset({"fid", "kid", "fid_local", "kid_local", "l1"})
HIGHER_IS_BETTER = frozenset({"psnr", "ssim", "domain_score", "diversity", "diversity_pixels"})
RANKED_METRICS = LOWER_IS_BETTER | HIGHER_IS_BETTER


def check_metric(metric: str, option: str = "--eval-metric") -> None:
    if metric not in RANKED_METRICS:
        raise PairlessError(f"{option} {metric}: choose from {', '.join(sorted(RANKED_METRICS))}")


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Whether `new` beats `old` (None: nothing yet); a value that is not a number never counts as best,
    and never stands in the way of one that is."""
    check_metric(metric)
    if math.isnan(new):
        return False
    if old is None or math.isnan(old):
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old
