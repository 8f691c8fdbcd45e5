"""Diverse verifier tree search (DVTS; Beeching, Tunstall and Rush 2024, "Scaling test-time
compute with open models", huggingface/search-and-learn).

A budget of ``n`` paths is split into ``n // width`` independent subtrees. Each subtree keeps one
live path: every round it is extended by ``width`` sampled next steps (one completion stopped at
a newline is one step, the ``stepwise`` prompt), a process reward scores the candidates, and the
best one survives; the others are pruned. A subtree is finished when its surviving path writes
its final-answer line. Because the subtrees never compete with each other, the search keeps
``n // width`` different lines of reasoning where beam search would collapse onto a few
(the paper's finding: DVTS beats beam search at large N).

The final answer is chosen among the *finished* paths only, by ``select``: ``weighted`` (the
default, search-and-learn's best DVTS variant: answers grouped, each scoring the sum of its
paths' values), ``majority`` or ``best``. A path's value is its step scores combined by
``aggregation``: ``last`` (search-and-learn's default for a PRM), ``min``, ``prod`` or ``mean``.

search-and-learn issue #57: at its last iteration the reference code added every live
candidate to the completed set whether or not it had written an answer. Here a subtree that
runs out of steps or budget is *unfinished*: it is not counted as finished, and it is used only
when no subtree finished at all, with a ``fallback`` trace event saying so.

Trace events: ``subtree`` (one per subtree per round: the candidates with their values, which
was kept, whether it finished), ``vote`` (the final selection), ``fallback`` and ``stop``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from .._exceptions import ConfigError
from .base import Run, Strategy, StrategyResult, check_int
from .beam import AGGREGATES, Beam, expand, process_reward, score_paths, step_prompt
from .sampling import affordable, sampling_temperature
from .selection import check_selection, choose

log = logging.getLogger(__name__)


def node(c: Beam, how: str) -> dict[str, Any]:
    """A path as the trace shows it: its last step, its value, whether it finished."""
    return {"text": c.steps[-1] if c.steps else "", "score": round(c.value(how), 4), "done": c.done}


class DVTS(Strategy):
    """Diverse verifier tree search (module docstring).

    ``n`` (default: the budget's) is the number of paths, ``width`` the candidates per subtree
    per round (subtrees: ``n // width``, at least one); ``max_steps`` caps the rounds,
    ``step_tokens`` one step; ``aggregation`` combines a path's step scores; ``select`` picks
    the answer; ``reward`` is a process reward (default: the run's if it scores steps, else the
    log-probability process reward).
    """

    name = "dvts"

    def __init__(self, n: int | None = None, *, width: int = 4, max_steps: int = 8, step_tokens: int = 64,
                 temperature: float | None = None, aggregation: str = "last", select: str = "weighted",
                 reward: Any = None, strict: bool = False) -> None:
        for label, v in (("n", n), ("width", width), ("max_steps", max_steps), ("step_tokens", step_tokens)):
            check_int("dvts", label, v)
        if aggregation not in AGGREGATES:
            raise ConfigError(f"dvts aggregation must be one of {', '.join(AGGREGATES)}, got {aggregation!r}")
        check_selection("dvts", select)
        self.n = n
        self.width = width
        self.max_steps = max_steps
        self.step_tokens = step_tokens
        self.temperature = temperature
        self.aggregation = aggregation
        self.select = select
        self.reward = reward
        self.strict = strict

    def run(self, run: Run) -> StrategyResult:
        n = self.n or run.budget.n
        width = min(self.width, n)
        trees = max(1, n // width)
        prm = process_reward(self.reward, run, "dvts")
        temp = sampling_temperature(run, self.temperature)
        base = step_prompt(run)
        step_cap = min(self.step_tokens, run.budget.max_tokens)
        live: dict[int, Beam] = {t: Beam(slot=t) for t in range(trees)}
        finished: dict[int, Beam] = {}
        ended: dict[int, Beam] = {}  # subtrees that stopped without an answer
        stopped = f"{self.max_steps} steps"
        for depth in range(self.max_steps):
            if not live:
                stopped = "all subtrees finished"
                break
            can = affordable(run, step_cap)
            order = sorted(live)
            if can is not None:
                order = order[: can // width]
            if not order:
                stopped = "token budget spent"
                break
            for t in order:
                # one call per subtree, each with its own seeds: in one call every prompt's sample
                # i gets seed + i, and the subtrees' roots are the same prompt
                seed = None if run.budget.seed is None else run.budget.seed + depth * 1000 + t * width
                cands = expand(run, prm, base, [live[t]], n=width, step_cap=step_cap, temperature=temp,
                               seed=seed)[0]
                cands = score_paths(run, prm, cands, strict=self.strict)
                if not cands:
                    run.event("subtree", "no new step", subtree=t, depth=depth + 1, candidates=[], kept=None)
                    ended[t] = live.pop(t)  # nothing to continue with: the subtree ends unfinished
                    continue
                ranked = sorted(range(len(cands)), key=lambda j: -cands[j].value(self.aggregation))
                best = replace(cands[ranked[0]], slot=t)
                run.event("subtree", best.steps[-1] if best.steps else "", subtree=t, depth=depth + 1,
                          candidates=[node(c, self.aggregation) for c in cands], kept=ranked[0],
                          done=best.done)
                if best.done:
                    finished[t] = best
                    del live[t]
                else:
                    live[t] = best
        else:
            if not live:
                stopped = "all subtrees finished"
        return self._finish(run, finished, {**live, **ended}, stopped, trees)

    def _finish(self, run: Run, finished: dict[int, Beam], live: dict[int, Beam], stopped: str,
                trees: int) -> StrategyResult:
        pool = finished or {t: b for t, b in live.items() if b.steps}
        if not pool:
            run.event("stop", stopped, finished=0)
            return run.result(self.name, None, "", finished=0, stopped=stopped)
        if not finished:  # search-and-learn #57: unfinished paths are never counted as finished
            log.info("dvts: no subtree wrote a final answer (%s); choosing among unfinished paths", stopped)
            run.event("fallback", "unfinished paths", reason=stopped, unfinished=sorted(pool))
        keys = sorted(pool)
        paths = [pool[t] for t in keys]
        answers = [run.task.extract(p.text) for p in paths]
        values = [p.value(self.aggregation) for p in paths]
        answer, i = choose(run, answers, values, self.select)
        best = paths[i]
        run.event("stop", stopped, finished=len(finished), unfinished=len(live), chosen=keys[i],
                  score=round(values[i], 4))
        return run.result(self.name, answer, best.text, score=values[i], finished=len(finished),
                          unfinished=len(live), subtrees=trees, stopped=stopped)
