"""Finding bad records by stated rules, and dropping or repairing them.

A record is bad when a value is missing (NaN) or outside its column's Rule. Modes:
- none:   records are counted but kept; a missing value reaches the network as 0, the way a
          naive pipeline reads an empty cell (only generated sets get here with NaN: the CSV
          loader refuses empty cells under ``none``);
- drop:   every bad record is removed;
- repair: a bad input value becomes the training split's median of that column (over its
          valid values, so test data never leaks in); a record whose *target* is bad is
          dropped, since there is nothing sensible to put in its place.
The same rules and training medians apply to all three splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .records import DataError, Rule

MISSING = "missing"

Part = tuple[np.ndarray, np.ndarray]   # (x (n, n_features), y (n,)) of one split


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning found and did, over all splits. Per-rule counts are records, and a record
    breaking two rules counts under both; the ``*_records`` totals count each record once."""

    mode: str
    bad_records: int
    dropped_records: int
    repaired_records: int
    found: dict[str, int]       # rule (a column name, or "missing") -> records breaking it
    dropped: dict[str, int]
    repaired: dict[str, int]

    def rows(self) -> list[tuple[str, int, int, int]]:
        """``(rule, found, dropped, repaired)`` for each rule, in the rules' order."""
        return [(rule, self.found[rule], self.dropped[rule], self.repaired[rule]) for rule in self.found]

    def summary(self) -> str:
        """One line, e.g. ``clean=drop: 20 bad records (bedrooms 4, price_100k 8, missing 4); 20 dropped``."""
        if self.bad_records == 0:
            return f"clean={self.mode}: no bad records"
        rules = ", ".join(f"{rule} {count}" for rule, count in self.found.items() if count)
        action = {"none": "all kept",
                  "drop": f"{self.dropped_records} dropped",
                  "repair": f"{self.repaired_records} repaired, {self.dropped_records} dropped (bad target)"}
        return f"clean={self.mode}: {self.bad_records} bad records ({rules}); {action[self.mode]}"


def _violations(values: np.ndarray, columns: tuple[str, ...],
                rules: Sequence[Rule]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Which records break each rule (rule -> (n,) bool), and which cells are bad (n, n_columns)."""
    bad_cells = np.isnan(values)
    by_rule = {}
    for rule in rules:
        column = columns.index(rule.column)
        outside = (values[:, column] < rule.low) | (values[:, column] > rule.high)   # NaN: only "missing"
        by_rule[rule.column] = outside
        bad_cells[:, column] |= outside
    by_rule[MISSING] = np.isnan(values).any(axis=1)
    return by_rule, bad_cells


def _column_medians(values: np.ndarray, bad_cells: np.ndarray) -> np.ndarray:
    """Median of each column over its valid values (NaN where a column has none)."""
    return np.array([np.median(values[~bad_cells[:, j], j]) if (~bad_cells[:, j]).any() else np.nan
                     for j in range(values.shape[1])])


def clean(parts: Sequence[Part], columns: tuple[str, ...], rules: Sequence[Rule],
          mode: str) -> tuple[list[Part], CleaningReport]:
    """Apply ``mode`` to the (train, val, test) parts; ``columns`` = feature names + target name."""
    tables = [np.column_stack([x, y]) for x, y in parts]           # target is the last column
    checks = [_violations(values, columns, rules) for values in tables]
    target = len(columns) - 1
    medians = _column_medians(tables[0], checks[0][1]) if mode == "repair" else None
    found, dropped, repaired = ({rule: 0 for rule in checks[0][0]} for _ in range(3))
    bad_records = dropped_records = repaired_records = 0
    cleaned = []
    for values, (by_rule, bad_cells) in zip(tables, checks):
        bad = bad_cells.any(axis=1)
        drop = {"none": np.zeros_like(bad), "drop": bad, "repair": bad_cells[:, target]}[mode]
        fix = bad & ~drop if mode == "repair" else np.zeros_like(bad)
        for rule, hits in by_rule.items():
            found[rule] += int(hits.sum())
            dropped[rule] += int((hits & drop).sum())
            repaired[rule] += int((hits & fix).sum())
        bad_records += int(bad.sum())
        dropped_records += int(drop.sum())
        repaired_records += int(fix.sum())
        kept = values[~drop]
        if mode == "repair":
            kept = np.where(bad_cells[~drop], medians, kept)
            if np.isnan(kept).any():
                column = columns[int(np.argwhere(np.isnan(kept))[0, 1])]
                raise DataError("data.clean", f"cannot repair column '{column}': it has no valid value "
                                              "in the training split")
        elif mode == "none":
            kept = np.nan_to_num(kept, nan=0.0)
        cleaned.append((np.ascontiguousarray(kept[:, :-1]), kept[:, -1].copy()))
    report = CleaningReport(mode, bad_records, dropped_records, repaired_records, found, dropped, repaired)
    return cleaned, report
