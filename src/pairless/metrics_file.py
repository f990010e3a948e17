"""Reading a run's `metrics.jsonl`: one JSON object per log step or evaluation (`pairless.train.monitor`
writes it). Standard library only: the report, the web page's model card and bench read it without the
training code."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from pairless.errors import PairlessError


def read_records(path: Path, strict: bool = True) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl. A line that is not one is an error naming it, except, with a
    warning, a cut-off last line (a run killed while it wrote). When not `strict` (a page that shows what
    it can, while training may still be appending), such lines are skipped without a word."""
    records = []
    lines = path.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if not strict:
                continue
            if number == len(lines):
                warnings.warn(f"{path}, line {number}: cut off (a run killed while writing it); skipped",
                              stacklevel=2)
                continue
            raise PairlessError(f"{path}, line {number}: not valid JSON") from None
        if isinstance(record, dict) and isinstance(record.get("step"), int) and isinstance(record.get("eval", {}),
                                                                                          dict):
            records.append(record)
        elif strict:
            raise PairlessError(f"{path}, line {number}: not the record of a log step (a JSON object with a step)")
    return records
