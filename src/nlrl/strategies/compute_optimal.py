"""Compute-optimal test-time scaling (Snell et al. 2024, arXiv 2408.03314): spend compute where
it helps, by estimated difficulty.

:func:`estimate_difficulty` draws ``k`` cheap probe samples and measures how much they agree
(Snell et al. bin questions by difficulty; agreement is the model's own, reference-free proxy).
A :class:`ComputeOptimalTable` - learned by ``benchmarks/compute_optimal.py`` on a development
split and shipped as ``data/compute_optimal.json`` - says, for a budget of N sample-equivalents,
how many probes to draw and which strategy and n to run in each agreement bin.

:class:`Auto` (``--strategy auto``) applies the table to one prompt: probe, bin, run the chosen
strategy (sampling strategies continue from the probe samples, so they are not paid twice); its
trace has a ``difficulty`` event and its result ``extra["chosen"]`` names the choice.
:func:`allocate` and :func:`solve_batch` spend one global token budget across a batch: after the
probes, tokens go where the table's per-bin accuracy-per-token curve gains most.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from .._exceptions import ConfigError
from ..backends import Usage
from .base import Budget, Run, Strategy, StrategyResult
from .sampling import DEFAULT_TEMPERATURE, Sample, draw
from .voting import equivalence_for, majority

log = logging.getLogger(__name__)

TABLE_FILE = "compute_optimal.json"


@dataclass(frozen=True)
class Choice:
    """A strategy configuration, with what it achieved on the development split."""

    strategy: str
    n: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)
    accuracy: float | None = None
    tokens: float | None = None  # mean generated tokens per problem, probes included

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Choice":
        return cls(str(d["strategy"]), int(d.get("n", 1)), dict(d.get("options") or {}),
                   d.get("accuracy"), d.get("tokens"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"strategy": self.strategy, "n": self.n}
        if self.options:
            d["options"] = dict(self.options)
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy
        if self.tokens is not None:
            d["tokens"] = self.tokens
        return d

    @property
    def label(self) -> str:
        opts = "".join(f",{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.strategy}@{self.n}{opts}"


@dataclass(frozen=True)
class Policy:
    """What to do at one budget: probe ``probe`` samples, then per agreement bin a choice.

    ``bins`` are (minimum agreement, choice) pairs, highest minimum first; the first bin whose
    minimum the probe's agreement reaches is used. ``probe == 0`` means no probe: ``bins`` then
    holds a single entry.
    """

    budget: int
    probe: int
    temperature: float
    bins: tuple[tuple[float, str, Choice], ...]
    frontier: Mapping[str, tuple[Choice, ...]] = field(default_factory=dict)

    def bin_of(self, agreement: float) -> tuple[str, Choice]:
        for lo, name, choice in self.bins:
            if agreement >= lo - 1e-9:
                return name, choice
        lo, name, choice = self.bins[-1]
        return name, choice


class ComputeOptimalTable:
    """Per-domain policies by budget, loaded from the JSON the benchmark writes."""

    def __init__(self, data: Mapping[str, Any], source: str = "<dict>") -> None:
        self.data = data
        self.source = source
        self._policies: dict[str, list[Policy]] = {}
        try:
            for domain, spec in (data.get("domains") or {}).items():
                self._policies[domain] = sorted((_policy(p) for p in spec["policies"]), key=lambda p: p.budget)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed compute-optimal table {source}: {exc}") from exc
        if "default" not in self._policies:
            raise ConfigError(f"compute-optimal table {source} has no 'default' domain")

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ComputeOptimalTable":
        """The packaged table, or the one at ``path``."""
        if path is None:
            return _packaged()
        p = Path(path)
        try:
            return cls(json.loads(p.read_text(encoding="utf-8")), str(p))
        except OSError as exc:
            raise ConfigError(f"cannot read compute-optimal table {p}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"compute-optimal table {p} is not valid JSON: {exc.msg}") from exc

    def learned(self, domain: str) -> bool:
        spec = (self.data.get("domains") or {}).get(domain) or {}
        return bool(spec.get("learned")) and domain in self._policies

    def policy(self, domain: str, budget: int) -> Policy:
        """The policy for the largest tabulated budget <= ``budget`` (the smallest if none is)."""
        policies = self._policies.get(domain) or self._policies["default"]
        fitting = [p for p in policies if p.budget <= budget]
        return fitting[-1] if fitting else policies[0]


def _policy(d: Mapping[str, Any]) -> Policy:
    bins = tuple(sorted(((float(b["min_agreement"]), str(b["name"]), Choice.from_dict(b["choice"]))
                         for b in d["bins"]), key=lambda b: -b[0]))
    if not bins:
        raise ValueError("a policy needs at least one bin")
    frontier = {name: tuple(Choice.from_dict(c) for c in cs) for name, cs in (d.get("frontier") or {}).items()}
    return Policy(int(d["budget"]), int(d.get("probe", 0)), float(d.get("temperature", DEFAULT_TEMPERATURE)), bins, frontier)


@lru_cache(maxsize=1)
def _packaged() -> ComputeOptimalTable:
    text = resources.files("nlrl.strategies").joinpath("data", TABLE_FILE).read_text("utf-8")
    return ComputeOptimalTable(json.loads(text), f"nlrl/strategies/data/{TABLE_FILE}")


# ---- difficulty ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difficulty:
    """The probe's verdict: agreement of its answers (1.0 = all the same) and the bin it falls in."""

    agreement: float
    bin: str
    samples: tuple[Sample, ...]
    answer: str | None


def estimate_difficulty(run: Run, policy: Policy) -> Difficulty:
    """Draw the policy's probe samples and bin the prompt by how much their answers agree."""
    if policy.probe == 0:
        name = policy.bins[0][1]
        run.event("difficulty", name, agreement=None, probe=0, reason=f"no probe at budget {policy.budget}")
        return Difficulty(math.nan, name, (), None)
    # With log-probabilities when the backend has them, so a log-probability reward can reuse them.
    samples = draw(run, policy.probe, temperature=policy.temperature, logprobs=run.backend.supports_logprobs)
    vote = majority([s.answer for s in samples], equivalent=equivalence_for(run.task.domain, run.task.question))
    agreement = vote.agreement
    name, _ = policy.bin_of(agreement)
    run.event("difficulty", name, agreement=round(agreement, 4), probe=len(samples),
              answers=[s.answer for s in samples])
    return Difficulty(agreement, name, tuple(samples), vote.answer)


# ---- one prompt -------------------------------------------------------------------------------

class Auto(Strategy):
    """Pick the strategy by domain and estimated difficulty (``--strategy auto``).

    The budget's n is the budget in sample-equivalents: the table's policy for that budget is
    applied. ``table`` is a :class:`ComputeOptimalTable` or a path (default: the packaged one).
    """

    name = "auto"

    def __init__(self, table: ComputeOptimalTable | str | Path | None = None, *, n: int | None = None) -> None:
        self.table = table if isinstance(table, ComputeOptimalTable) else ComputeOptimalTable.load(table)
        self.n = n

    def run(self, run: Run) -> StrategyResult:
        domain = run.task.domain
        policy = self.table.policy(domain, self.n or run.budget.n)
        if not self.table.learned(domain):
            log.info("auto: no learned table for domain %s; using the default policy", domain)
        diff = estimate_difficulty(run, policy)
        _, choice = policy.bin_of(diff.agreement) if policy.probe else (None, policy.bins[0][2])
        return self.run_choice(run, choice, diff, policy)

    def run_choice(self, run: Run, choice: Choice, diff: Difficulty, policy: Policy,
                   max_total_tokens: int | None = None) -> StrategyResult:
        """Run ``choice`` on ``run``'s task, continuing from the probe samples where it can."""
        from . import get_strategy

        run.event("choice", choice.label, strategy=choice.strategy, n=choice.n, bin=diff.bin,
                  dev_accuracy=choice.accuracy, dev_tokens=choice.tokens)
        strategy = get_strategy(choice.strategy, **dict(choice.options))
        reuse = (diff.samples and getattr(strategy, "reuses_samples", False)
                 and _temperature(strategy, run) == policy.temperature)
        cap = run.tokens_left() if max_total_tokens is None else max_total_tokens
        budget = run.budget
        max_tokens = budget.max_tokens
        child_cap = None if cap is None else cap + (run.generated_tokens if reuse else 0)
        if child_cap is not None and child_cap < max_tokens:
            if diff.samples:
                # Not enough left for the chosen strategy: the probe's vote is the answer.
                reuse, choice = True, Choice("self-consistency", len(diff.samples))
                strategy = get_strategy("self-consistency")
                child_cap = None
                run.event("fallback", choice.label, reason=f"{cap} tokens left, less than one sample")
            elif child_cap >= 1:
                max_tokens = child_cap  # one shortened sample is all the budget pays for
                run.event("fallback", "shortened", reason=f"{cap} tokens left, less than one sample")
            else:
                raise ConfigError("the token budget is spent: no tokens left for this prompt")
        child_budget = Budget(n=choice.n, max_tokens=max_tokens, max_total_tokens=child_cap,
                              temperature=policy.temperature if reuse else budget.temperature,
                              seed=budget.seed)
        child = Run(run.task, run.backend, reward=run.reward, budget=child_budget, on_token=run.on_token)
        if reuse:
            # The child continues from the probe's samples, so it must see their cost too.
            probe_usage = run.usage
            child.add_usage(probe_usage)
            result = strategy.run_with(child, diff.samples)
            run.add_usage(_minus(result.usage, probe_usage))
        else:
            result = strategy.run(child)
            run.add_usage(result.usage)
        run.trace.extend(result.trace)
        chosen = {"strategy": choice.strategy, "n": choice.n, "options": dict(choice.options),
                  "bin": diff.bin, "agreement": None if math.isnan(diff.agreement) else round(diff.agreement, 4),
                  "probe": len(diff.samples)}
        return run.result(self.name, result.answer, result.output, score=result.score,
                          chosen=chosen, **{k: v for k, v in result.extra.items() if k != "chosen"})


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(a.prompt_tokens - b.prompt_tokens, a.completion_tokens - b.completion_tokens,
                 a.calls - b.calls, max(0.0, a.wall_s - b.wall_s))


def _temperature(strategy: Strategy, run: Run) -> float:
    t = getattr(strategy, "temperature", None)
    return DEFAULT_TEMPERATURE if t is None else float(t)


# ---- a batch under one budget -----------------------------------------------------------------

def allocate(bins: Sequence[str], total_tokens: float, frontier: Mapping[str, Sequence[Choice]]) -> list[Choice]:
    """Give each prompt (by its difficulty bin) a choice so the expected correct answers are
    greatest while the choices' expected tokens stay within ``total_tokens``.

    Greedy on the upper concave hull of each bin's accuracy-vs-tokens curve: start everyone at
    their cheapest choice, then repeatedly upgrade the prompt whose next step gains the most
    accuracy per token, while it fits.
    """
    hulls: dict[str, list[Choice]] = {}
    for name in set(bins):
        options = [c for c in frontier.get(name, ()) if c.accuracy is not None and c.tokens is not None]
        if not options:
            raise ConfigError(f"the allocation frontier has no measured choices for bin {name!r}")
        hulls[name] = _hull(options)
    level = [0] * len(bins)
    spent = math.fsum(hulls[b][0].tokens or 0.0 for b in bins)
    if spent > total_tokens:
        log.warning("the batch budget (%d tokens) is below the cheapest choices (%.0f)", total_tokens, spent)
    while True:
        best, gain = None, 0.0
        for i, b in enumerate(bins):
            h = hulls[b]
            if level[i] + 1 < len(h):
                cur, nxt = h[level[i]], h[level[i] + 1]
                cost = (nxt.tokens or 0.0) - (cur.tokens or 0.0)
                if spent + cost > total_tokens:
                    continue
                g = ((nxt.accuracy or 0.0) - (cur.accuracy or 0.0)) / max(cost, 1e-9)
                if g > gain:
                    best, gain = i, g
        if best is None:
            break
        h = hulls[bins[best]]
        spent += (h[level[best] + 1].tokens or 0.0) - (h[level[best]].tokens or 0.0)
        level[best] += 1
    return [hulls[b][level[i]] for i, b in enumerate(bins)]


def _hull(options: Sequence[Choice]) -> list[Choice]:
    """Choices on the upper concave hull of accuracy vs tokens (cheapest first)."""
    pts = sorted(options, key=lambda c: (c.tokens, -(c.accuracy or 0.0)))
    frontier: list[Choice] = []
    for c in pts:  # drop choices that are no more accurate than a cheaper one
        if not frontier or (c.accuracy or 0.0) > (frontier[-1].accuracy or 0.0):
            frontier.append(c)
    hull: list[Choice] = []
    for c in frontier:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b lies under the chord a->c: upgrading a->c directly is better per token
            if ((b.accuracy - a.accuracy) * (c.tokens - a.tokens)  # type: ignore[operator]
                    <= (c.accuracy - a.accuracy) * (b.tokens - a.tokens)):  # type: ignore[operator]
                hull.pop()
            else:
                break
        hull.append(c)
    return hull


def solve_batch(tasks: Sequence[Any], backend: Any, *, total_tokens: int, max_tokens: int = 256,
                table: ComputeOptimalTable | None = None, budget_n: int = 16, reward: Any = None,
                seed: int | None = None, on_token: Any = None) -> list[StrategyResult]:
    """Solve ``tasks`` spending at most ``total_tokens`` generated tokens in all.

    Each task is probed (the policy for ``budget_n``); :func:`allocate` then splits the budget
    over the bins' measured frontiers, and each task runs its choice capped at its planned share
    plus whatever earlier tasks left unspent (never what later tasks are planned to need).
    """
    table = table or ComputeOptimalTable.load()
    auto = Auto(table)
    runs, diffs, policies = [], [], []
    for task in tasks:
        policy = table.policy(task.domain, budget_n)
        run = Run(task, backend, reward=reward, on_token=on_token,
                  budget=Budget(n=budget_n, max_tokens=max_tokens, seed=seed))
        runs.append(run)
        policies.append(policy)
        diffs.append(estimate_difficulty(run, policy))
    probe_tokens = sum(r.generated_tokens for r in runs)
    if probe_tokens > total_tokens:
        raise ConfigError(f"the probes alone used {probe_tokens} tokens, over the batch budget of "
                          f"{total_tokens}; raise total_tokens or lower budget_n")
    keys, frontier = [], {}
    for d, p in zip(diffs, policies):
        key = f"{p.budget}:{d.bin}"
        frontier.setdefault(key, tuple(p.frontier.get(d.bin) or ()) or (p.bin_of(d.agreement)[1],))
        keys.append(key)
    # Frontier costs include the probe, as total_tokens does.
    choices = allocate(keys, total_tokens, frontier)
    planned = [max(0, int(math.ceil((c.tokens or 0.0) - r.generated_tokens))) for c, r in zip(choices, runs)]
    left = total_tokens - probe_tokens
    results = []
    for i, (run, d, p, c) in enumerate(zip(runs, diffs, policies, choices)):
        cap = max(0, left - sum(planned[i + 1:]))
        if cap < max_tokens and not d.samples:
            cap = min(left, max_tokens)  # borrow one sample from later plans; they shrink to fit
        probe = run.generated_tokens
        try:
            res = auto.run_choice(run, c, d, p, max_total_tokens=cap)
        except ConfigError as exc:  # the batch budget is spent: keep what earlier tasks found
            run.event("skipped", str(exc), reason="budget")
            res = run.result(auto.name, None, "", skipped="budget")
        left -= res.usage.completion_tokens - probe
        results.append(res)
    return results
