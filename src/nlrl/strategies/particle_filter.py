"""Particle filtering over reasoning steps (Puri, Sudalairaj, Xu, Xu and Srivastava 2025, "A
Probabilistic Inference Approach to Inference-Time Scaling of LLMs using Particle-Based Monte
Carlo Methods", arXiv 2502.01618; its_hub's ``ParticleFiltering``).

A population of ``n`` particles (partial solutions, one step per line, the ``stepwise`` prompt)
moves forward together. Each round:

1. **resample** (from the second round on): ``n`` particles are drawn with replacement, each with
   probability equal to its weight, from a ``random.Random`` seeded by the budget's seed, so a
   seeded run is reproducible;
2. **extend**: every unfinished particle gets one sampled next step (particles that are copies of
   each other share one backend call with ``n`` = their number, so they get different steps);
3. **weigh**: a process reward scores each particle's steps, combined by ``aggregation`` (``last``
   by default: the reward of the partial solution as a whole, the paper's choice), and the weights
   are ``softmax(score / softmax_temperature)`` over the population. Finished particles (those
   that wrote their final-answer line) are not extended further but keep their place and weight.

The search ends when every particle has finished, after ``max_steps`` rounds, or when the token
budget cannot pay for another step of any particle; when it cannot pay for all of them, the
highest-weighted unfinished particles are extended first. The final answer is chosen among the
finished particles by ``select``: ``weighted`` (default: answers grouped, each group scoring the
sum of its particles' weights), ``best`` or ``majority``. With no finished particle the best
unfinished one is used, said by a ``fallback`` event.

Trace events: ``particles`` (each round: every particle's last step, parent, score, weight,
finished), ``resample`` (the weights and which particle each new slot copies), ``vote``,
``fallback`` and ``stop``.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import replace
from typing import Any, Sequence

from .._exceptions import ConfigError
from .base import Run, Strategy, StrategyResult, check_int
from .beam import AGGREGATES, Beam, expand, process_reward, score_paths, step_prompt
from .sampling import affordable, sampling_temperature
from .selection import check_selection, choose

log = logging.getLogger(__name__)


def softmax(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    """``exp(s / T)`` normalised to sum to 1 (shifted by the maximum for stability).

    >>> [round(w, 4) for w in softmax([0.0, math.log(3.0)])]
    [0.25, 0.75]
    """
    if not scores:
        return []
    if not temperature > 0:
        raise ConfigError(f"softmax temperature must be > 0, got {temperature!r}")
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = math.fsum(exps)
    return [e / total for e in exps]


def resample(weights: Sequence[float], k: int, rng: random.Random) -> list[int]:
    """``k`` indices drawn with replacement, index ``i`` with probability ``weights[i]``
    (multinomial resampling)."""
    return rng.choices(range(len(weights)), weights=weights, k=k)


class ParticleFilter(Strategy):
    """Particle filtering (module docstring).

    ``n`` (default: the budget's) particles; ``max_steps`` rounds; ``step_tokens`` caps a step;
    ``softmax_temperature`` sharpens (small) or flattens (large) the weights; ``aggregation``
    combines a particle's step scores; ``select`` picks the answer; ``reward`` is a process
    reward (default: the run's if it scores steps, else the log-probability process reward).
    """

    name = "particle-filter"

    def __init__(self, n: int | None = None, *, max_steps: int = 8, step_tokens: int = 64,
                 temperature: float | None = None, softmax_temperature: float = 1.0,
                 aggregation: str = "last", select: str = "weighted", reward: Any = None,
                 strict: bool = False) -> None:
        for label, v in (("n", n), ("max_steps", max_steps), ("step_tokens", step_tokens)):
            check_int("particle-filter", label, v)
        if (isinstance(softmax_temperature, bool) or not isinstance(softmax_temperature, (int, float))
                or not math.isfinite(softmax_temperature) or softmax_temperature <= 0):
            raise ConfigError(f"particle-filter softmax_temperature must be > 0, got {softmax_temperature!r}")
        if aggregation not in AGGREGATES:
            raise ConfigError(f"particle-filter aggregation must be one of {', '.join(AGGREGATES)}, "
                              f"got {aggregation!r}")
        check_selection("particle-filter", select)
        self.n = n
        self.max_steps = max_steps
        self.step_tokens = step_tokens
        self.temperature = temperature
        self.softmax_temperature = float(softmax_temperature)
        self.aggregation = aggregation
        self.select = select
        self.reward = reward
        self.strict = strict

    def weights(self, particles: Sequence[Beam]) -> list[float]:
        return softmax([p.value(self.aggregation) for p in particles], self.softmax_temperature)

    def run(self, run: Run) -> StrategyResult:
        n = self.n or run.budget.n
        prm = process_reward(self.reward, run, "particle-filter")
        temp = sampling_temperature(run, self.temperature)
        base = step_prompt(run)
        step_cap = min(self.step_tokens, run.budget.max_tokens)
        rng = random.Random(run.budget.seed)
        particles = [Beam(slot=i) for i in range(n)]
        weights = [1.0 / n] * n
        stopped = f"{self.max_steps} steps"
        for depth in range(self.max_steps):
            if all(p.done for p in particles):
                stopped = "all particles finished"
                break
            can = affordable(run, step_cap)
            if can is not None and can < 1:
                stopped = "token budget spent"
                break
            if depth > 0:
                picks = resample(weights, n, rng)
                run.event("resample", "", depth=depth, weights=[round(w, 6) for w in weights], picks=picks)
                particles = [replace(particles[j], slot=i, parent=j) for i, j in enumerate(picks)]
                weights = [weights[j] for j in picks]
            live = [i for i, p in enumerate(particles) if not p.done]
            if can is not None and can < len(live):  # pay for the heaviest first
                live = sorted(sorted(live, key=lambda i: -weights[i])[:can])
            particles = self._extend(run, prm, base, particles, live, depth, step_cap, temp)
            weights = self.weights(particles)
            run.event("particles", "", depth=depth + 1, extended=live, particles=[
                {"text": p.steps[-1] if p.steps else "", "parent": p.parent,
                 "score": round(p.value(self.aggregation), 4), "weight": round(w, 6), "done": p.done}
                for p, w in zip(particles, weights)])
        else:
            if all(p.done for p in particles):
                stopped = "all particles finished"
        return self._finish(run, particles, weights, stopped)

    def _extend(self, run: Run, prm: Any, base: str, particles: list[Beam], live: Sequence[int], depth: int,
                step_cap: int, temp: float) -> list[Beam]:
        """One step for each particle in ``live``; copies of one path share a call of n = copies."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in live:
            groups.setdefault(particles[i].steps, []).append(i)
        out = list(particles)
        offset = 0
        for members in groups.values():
            # disjoint seeds across the calls of a round: sample i of a call is seeded seed + i
            seed = None if run.budget.seed is None else run.budget.seed + depth * 1000 + offset
            offset += len(members)
            cands = expand(run, prm, base, [particles[members[0]]], n=len(members), step_cap=step_cap,
                           temperature=temp, seed=seed, keep_repeats=True)[0]
            cands = score_paths(run, prm, cands, strict=self.strict)
            for i, c in zip(members, cands):
                out[i] = replace(c, slot=i, parent=particles[i].parent)
        return out

    def _finish(self, run: Run, particles: list[Beam], weights: list[float], stopped: str) -> StrategyResult:
        done = [i for i, p in enumerate(particles) if p.done and p.steps]
        pool = done or [i for i, p in enumerate(particles) if p.steps]
        if not pool:
            run.event("stop", stopped, finished=0)
            return run.result(self.name, None, "", finished=0, stopped=stopped)
        if not done:
            log.info("particle-filter: no particle wrote a final answer (%s); using unfinished ones", stopped)
            run.event("fallback", "unfinished particles", reason=stopped)
        answers = [run.task.extract(particles[i].text) for i in pool]
        vals = [weights[i] for i in pool]
        answer, k = choose(run, answers, vals, self.select)
        best = particles[pool[k]]
        score = best.value(self.aggregation)
        run.event("stop", stopped, finished=len(done), chosen=pool[k], weight=round(vals[k], 6),
                  score=round(score, 4))
        return run.result(self.name, answer, best.text, score=score, finished=len(done),
                          particles=len(particles), stopped=stopped)
