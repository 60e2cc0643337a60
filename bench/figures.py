"""A figure is one measured number: its samples summarised, its target, its peer measured in the same run.

Figures are plain dicts because they are the JSON of bench/results/latest.json; they are built and judged
here, once, so that the table and the generated docs only render.
"""
from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Sequence
from typing import Any

Figure = dict[str, Any]

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
STATS = ("min", "median", "max", "p99")


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, Any]:
    if not samples:
        raise ValueError("no samples")
    return {"runs": len(samples), "min": min(samples), "median": statistics.median(samples), "max": max(samples),
            "p99": percentile(samples, 99)}


def target(op: str, value: float, stat: str = "median", of_peer: bool = False) -> dict[str, Any]:
    """A target is checked on one statistic (the median unless said), either against a fixed value or against
    `value` times the peer's same statistic."""
    if op not in OPS or stat not in STATS:
        raise ValueError(f"target: op must be one of {sorted(OPS)} and stat one of {STATS}")
    return {"op": op, "value": value, "stat": stat, "of_peer": of_peer}


def peer(name: str, samples: Sequence[float] | None = None, *, missing: str = "",
         stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same measurement of another tool; `missing` says why there is none (not installed, ...)."""
    if missing:
        return {"name": name, "missing": missing}
    return {"name": name, **(stats if stats is not None else summary(samples or []))}


def figure(part: str, name: str, unit: str, samples: Sequence[float] | None = None, *,
           stats: dict[str, Any] | None = None, goal: dict[str, Any] | None = None,
           versus: dict[str, Any] | None = None, note: str = "") -> Figure:
    """A judged figure from raw samples, or from `stats` another script already summarised (keys of STATS
    and runs; absent ones stay None)."""
    s = summary(samples) if samples is not None else {k: (stats or {}).get(k) for k in ("runs", *STATS)}
    fig: Figure = {"part": part, "name": name, "unit": unit, **s, "target": goal, "peer": versus, "note": note,
                   "error": None}
    fig["ratio"] = ratio(fig)
    fig["passed"] = judge(fig)
    return fig


def failure(part: str, name: str, error: str) -> Figure:
    """A row that says what failed, so that the rest of the run still reports."""
    return {"part": part, "name": name, "unit": "", "runs": 0, "min": None, "median": None, "max": None,
            "p99": None, "target": None, "peer": None, "note": "", "error": error, "ratio": None, "passed": None}


def ratio(fig: Figure) -> float | None:
    """This figure's median over the peer's: what a relative target compares."""
    versus = fig.get("peer") or {}
    mine, theirs = fig.get("median"), versus.get("median")
    if mine is None or not theirs:
        return None
    return mine / theirs


def judge(fig: Figure) -> bool | None:
    """True/False against the target; None when there is no target or nothing to compare it with."""
    goal = fig.get("target")
    if not goal or fig.get("error"):
        return None
    mine = fig.get(goal["stat"])
    if mine is None:
        return None
    if goal["of_peer"]:
        theirs = (fig.get("peer") or {}).get(goal["stat"])
        if theirs is None:
            return None
        return bool(OPS[goal["op"]](mine, goal["value"] * theirs))
    return bool(OPS[goal["op"]](mine, goal["value"]))
