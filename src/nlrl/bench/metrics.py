"""Accuracy with 95% confidence intervals, breakdowns and the summary of a run.

>>> [round(x, 4) for x in wilson_interval(7, 10)]
[0.3968, 0.8922]

The Wilson score interval is the default (right at small n and near 0 or 1, where the normal
approximation is not); a percentile bootstrap interval is given beside it for scores that are not
pass/fail (token F1, fraction of tests passed).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

Z95 = 1.959963984540054
#: metadata keys a summary breaks accuracy down by, when records carry them
BREAKDOWN_KEYS: tuple[str, ...] = ("level", "subject", "type")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(values: Sequence[float], *, iterations: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (deterministic for a given ``seed``).

    Resampling n values with replacement is drawing multinomial counts of the distinct values,
    which is how it is computed: O(iterations x distinct values), not O(iterations x n).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (0.0, 1.0)
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size == 1:
        return (float(distinct[0]), float(distinct[0]))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(x.size, counts / x.size, size=iterations)
    means = draws @ distinct / x.size
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def accuracy(correct: Iterable[bool]) -> dict[str, Any]:
    """``{"accuracy", "correct", "n", "ci95": [lo, hi]}`` (Wilson) for pass/fail outcomes."""
    flags = [bool(c) for c in correct]
    n, k = len(flags), sum(flags)
    lo, hi = wilson_interval(k, n)
    return {"accuracy": (k / n) if n else None, "correct": k, "n": n, "ci95": [round(lo, 4), round(hi, 4)]}


def _key(v: Any) -> str:
    return str(v)


def _sort_key(v: str) -> tuple[int, Any]:
    try:
        return (0, float(v))
    except ValueError:
        return (1, v)


def breakdown(results: Sequence[Mapping[str, Any]], keys: Sequence[str] = BREAKDOWN_KEYS) -> dict[str, Any]:
    """Accuracy per value of each metadata key present: ``{"level": {"1": {...}, ...}, ...}``."""
    out: dict[str, Any] = {}
    for key in keys:
        groups: dict[str, list[bool]] = defaultdict(list)
        for r in results:
            meta = r.get("metadata") or {}
            if key in meta and meta[key] not in (None, ""):
                groups[_key(meta[key])].append(bool(r.get("correct")))
        if groups:
            out[key] = {g: accuracy(groups[g]) for g in sorted(groups, key=_sort_key)}
    return out


def _mean(xs: Sequence[float]) -> float | None:
    return round(float(sum(xs)) / len(xs), 3) if xs else None


def summarize(results: Sequence[Mapping[str, Any]], *, config: Mapping[str, Any] | None = None,
              selected: int | None = None, wall_s: float | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``summary.json`` of a run from its per-sample results (``results.jsonl`` rows)."""
    acc = accuracy(r.get("correct") for r in results)
    scores = [float(r.get("score") or 0.0) for r in results]
    usage = [r.get("usage") or {} for r in results]
    gen = [float(u.get("completion_tokens", 0)) for u in usage]
    prompt = [float(u.get("prompt_tokens", 0)) for u in usage]
    latency = [float(r.get("latency_s", 0.0)) for r in results]
    lo, hi = bootstrap_interval(scores)
    summary: dict[str, Any] = {
        **({"config": dict(config)} if config is not None else {}),
        "n": acc["n"],
        "selected": selected if selected is not None else acc["n"],
        "complete": selected is None or acc["n"] >= selected,
        "correct": acc["correct"],
        "accuracy": acc["accuracy"],
        "ci95": acc["ci95"],
        "ci95_method": "wilson",
        "mean_score": _mean(scores),
        "mean_score_ci95_bootstrap": [round(lo, 4), round(hi, 4)],
        "errors": sum(1 for r in results if r.get("error")),
        "no_answer": sum(1 for r in results if r.get("final_answer") is None),
        "breakdown": breakdown(results),
        "tokens_per_sample": {
            "generated": _mean(gen),
            "prompt_evaluated": _mean(prompt),
            "calls": _mean([float(u.get("calls", 0)) for u in usage]),
        },
        "generated_tokens": int(sum(gen)),
        "cached_completions": sum(int(r.get("cached", 0)) for r in results),
        "latency_s": {"mean": _mean(latency), "p50": _pct(latency, 50), "p90": _pct(latency, 90)},
    }
    if wall_s is not None:
        summary["wall_s"] = round(wall_s, 3)
        summary["samples_per_s"] = round(acc["n"] / wall_s, 3) if wall_s > 0 else None
    if extra:
        summary.update(extra)
    return summary


def _pct(xs: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 4) if xs else None
