"""Step-level beam search guided by a process reward (Snell et al. 2024, arXiv 2408.03314, §5;
after Yao et al.'s and Xie et al.'s step-wise decoding).

The solution is written one step per line (``stepwise`` prompt: the domain's worked examples
with a step per line). Each round, every live beam is extended by ``expansions`` sampled next
steps (one completion stopped at a newline is one step), each candidate path is scored by a
process reward over its steps, and the ``width`` best paths survive. A path is finished when it
writes its final-answer line. The search ends when ``width`` paths are finished, after
``max_steps`` steps, or when the token budget cannot pay for another round; the best finished
path wins.

Scores of a path's steps are combined by ``aggregate``: ``min`` (default: a chain is as good as
its weakest step), ``last`` (Snell et al.'s choice for a PRM), ``mean`` or ``prod``. Without a
process reward, and when the backend reports log-probabilities, the process reward is
:class:`~nlrl.rewards.LogprobProcessReward`: a step's score is its own geometric-mean token
probability, read from the sampled tokens at no extra cost.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Sequence

from .._exceptions import ConfigError
from ..tasks.prompts import load_template, render_string
from ..verifiers.answers import has_final_answer
from .base import Run, Strategy, StrategyResult, check_int
from .reward_choice import resolve_reward
from .sampling import affordable, sampling_temperature
from .scoring import feed, score_steps, wants_logprobs

log = logging.getLogger(__name__)

_STEP_K = re.compile(r"(?=\bStep\s+\d+\s*[:.])")
AGGREGATES = ("min", "last", "mean", "prod")


def split_steps(text: str) -> list[str]:
    """Steps of a solution: its non-empty lines, and within a line each "Step k:" part."""
    steps: list[str] = []
    for line in text.splitlines():
        for part in _STEP_K.split(line):
            if part.strip():
                steps.append(part.strip())
    return steps


def finishes(step: str) -> bool:
    """Whether ``step`` is a final-answer line ("Final Answer: ..."; :mod:`nlrl.verifiers.answers`)."""
    return has_final_answer(step)


def aggregate(scores: Sequence[float], how: str) -> float:
    if not scores:
        return 0.0
    if how == "min":
        return min(scores)
    if how == "last":
        return scores[-1]
    if how == "mean":
        return math.fsum(scores) / len(scores)
    return math.prod(scores)


@dataclass(frozen=True)
class Beam:
    """A partial solution: its steps, their scores, and whether it has written its answer."""

    steps: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    done: bool = False
    # where it sits in the search tree (what ``nlrl view`` draws): its round, its place among
    # that round's kept paths, and its parent's place among the previous round's
    depth: int = 0
    slot: int = -1
    parent: int = -1

    @property
    def text(self) -> str:
        return "".join(s + "\n" for s in self.steps)

    def value(self, how: str) -> float:
        return aggregate(self.scores, how)


def step_prompt(run: Run) -> str:
    """The task's question in the one-step-per-line format of the ``stepwise`` template."""
    spec = load_template("stepwise")
    domain = load_template(run.task.domain) if run.task.domain in ("math", "commonsense", "coding") \
        else load_template("math")
    examples = domain["examples"][:1] if run.task.difficulty == "easy" else domain["examples"]  # as build_prompt
    instruction = domain["hard_instruction"] if run.task.difficulty == "hard" else domain["instruction"]
    return render_string(spec["template"], instruction=instruction + spec.get("suffix", ""),
                         examples=examples, question=run.task.question.strip())


def process_reward(spec: Any, run: Run, who: str) -> Any:
    """The reward ``spec`` (or the run's) if it scores steps, else the model's log-probabilities
    (:class:`~nlrl.rewards.LogprobProcessReward`); ``who`` names the strategy in messages."""
    from ..rewards import LogprobProcessReward, ProcessReward

    reward = resolve_reward(spec, run, required=False)
    if isinstance(reward, ProcessReward):
        return reward
    if reward is not None:
        log.info("%s: reward %s has no score_steps; scoring steps by log-probability",
                 who, type(reward).__name__)
    if not run.backend.supports_logprobs:
        raise ConfigError(
            f"{who} needs a process reward (a ProcessReward, e.g. prm:PATH) or a backend "
            f"that reports log-probabilities; {run.backend.model_name} does neither")
    return LogprobProcessReward(run.backend)


def expand(run: Run, prm: Any, base: str, paths: Sequence[Beam], *, n: int, step_cap: int,
           temperature: float, seed: int | None, keep_repeats: bool = False) -> list[list[Beam]]:
    """One backend call: ``n`` sampled next steps of each path (one completion stopped at a
    newline is one step). Returns each path's candidates, unscored: blank steps and repeats of a
    sibling are dropped (with ``keep_repeats``, a repeat is kept and a blank step gives the path
    back unchanged, so every sample is one candidate); a step that starts a new "Question:" ends
    the path without it; a line of numbered steps becomes several steps; a final-answer line
    finishes the path."""
    logprobs = wants_logprobs(prm)
    params = run.params(n=n, stop=("\n",), temperature=temperature, seed=seed, max_tokens=step_cap,
                        logprobs=logprobs)
    gens = run.generate([base + "\n" + b.text for b in paths], params, stream=False, kind="step")
    out: list[list[Beam]] = []
    for b, gen in zip(paths, gens):
        cands: list[Beam] = []
        seen: set[str] = set()
        for comp in gen.completions:
            step = comp.text.strip()
            if keep_repeats and not step:
                cands.append(replace(b, depth=b.depth + 1, parent=b.slot))
                continue
            if not step or (step in seen and not keep_repeats):
                continue  # a blank line, or a repeat of a sibling
            seen.add(step)
            if step.startswith("Question:"):  # the model moved on to a new problem
                cands.append(Beam(b.steps, b.scores, True, b.depth + 1, parent=b.slot))
                continue
            if logprobs:
                feed(run, prm, [(step, comp.logprobs)])
            # a line holding "Step 1: ... Step 2: ..." is several steps
            cands.append(Beam(b.steps + tuple(split_steps(step)), b.scores,
                              finishes(step), b.depth + 1, parent=b.slot))
        out.append(cands)
    return out


def score_paths(run: Run, prm: Any, cands: Sequence[Beam], *, strict: bool = False) -> list[Beam]:
    """``cands`` with the process reward's scores of all their steps. A failed score is logged by
    :func:`score_steps` and traced as a ``fallback``; the path keeps its earlier scores, and 0.0
    for its new steps."""
    out = []
    for c in cands:
        if not c.steps:
            out.append(c)
            continue
        scores = score_steps(run, c.steps, reward=prm, strict=strict)
        if scores is None:
            run.event("fallback", "unscored step", step=c.steps[-1])
            scores = list(c.scores) + [0.0] * (len(c.steps) - len(c.scores))
        out.append(replace(c, scores=tuple(scores)))
    return out


class BeamSearch(Strategy):
    """Beam search over reasoning steps.

    ``width`` overrides the budget's n (beams kept); ``expansions`` next steps are sampled per
    beam per round; ``step_tokens`` caps one step. ``reward`` is a process reward (a
    :class:`~nlrl.rewards.ProcessReward`); default: the run's reward if it scores steps, else LogprobProcessReward.
    """

    name = "beam"

    def __init__(self, width: int | None = None, *, expansions: int = 2, max_steps: int = 8,
                 step_tokens: int = 64, temperature: float | None = None, aggregate: str = "min",
                 reward: Any = None, strict: bool = False) -> None:
        for label, v in (("width", width), ("expansions", expansions), ("max_steps", max_steps),
                         ("step_tokens", step_tokens)):
            check_int("beam", label, v)
        if aggregate not in AGGREGATES:
            raise ConfigError(f"beam aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        self.width = width
        self.expansions = expansions
        self.max_steps = max_steps
        self.step_tokens = step_tokens
        self.temperature = temperature
        self.aggregate = aggregate
        self.reward = reward
        self.strict = strict

    def run(self, run: Run) -> StrategyResult:
        width = self.width or run.budget.n
        prm = process_reward(self.reward, run, "beam search")
        temp = sampling_temperature(run, self.temperature)
        base = step_prompt(run)
        beams = [Beam()]
        finished: list[Beam] = []
        stopped = f"{self.max_steps} steps"
        step_cap = min(self.step_tokens, run.budget.max_tokens)  # the longest a step call can be
        for depth in range(self.max_steps):
            can = affordable(run, step_cap)
            live = beams if can is None else beams[: can // self.expansions]
            if not live:
                stopped = "token budget spent"
                break
            seed = None if run.budget.seed is None else run.budget.seed + depth * 1000
            cands = [c for group in expand(run, prm, base, live, n=self.expansions, step_cap=step_cap,
                                           temperature=temp, seed=seed) for c in group]
            cands = score_paths(run, prm, cands, strict=self.strict)
            if not cands:
                stopped = "no new steps"
                break
            cands.sort(key=lambda c: -c.value(self.aggregate))  # stable: earlier first on ties
            kept = [replace(c, slot=j) for j, c in enumerate(cands[:width])]
            run.event("beam", "", depth=depth + 1, candidates=len(cands),
                      kept=[self._node(c) for c in kept], pruned=[self._node(c) for c in cands[width:]])
            finished += [c for c in kept if c.done]
            beams = [c for c in kept if not c.done]
            if len(finished) >= width:
                stopped = f"{len(finished)} beams finished"
                break
            if not beams:
                stopped = "all beams finished"
                break
        pool = finished or beams
        if not pool:
            run.event("stop", stopped, finished=0)
            return run.result(self.name, None, "", finished=0, stopped=stopped)
        if not finished:
            log.info("beam: no path wrote a final answer (%s); using the best unfinished one", stopped)
            run.event("fallback", "unfinished beam", reason=stopped)
        best = max(pool, key=lambda c: c.value(self.aggregate))
        answer = run.task.extract(best.text) if best.steps else None
        run.event("stop", stopped, finished=len(finished), score=round(best.value(self.aggregate), 4),
                  chosen=[best.depth, best.slot])
        return run.result(self.name, answer, best.text, score=best.value(self.aggregate),
                          finished=len(finished), stopped=stopped)

    def _node(self, c: Beam) -> dict[str, Any]:
        return {"text": c.steps[-1] if c.steps else "", "score": round(c.value(self.aggregate), 4),
                "done": c.done, "parent": c.parent}
