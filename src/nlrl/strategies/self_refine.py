"""Self-refine (Madaan et al. 2023, arXiv 2303.17651): draft, critique, revise, repeat.

The model writes a chain-of-thought draft; then, each round, it reviews its latest answer
(``critique`` prompt, ending in "Verdict: correct|wrong") and rewrites it using the review
(``revise`` prompt). It stops when the reward model scores an answer at ``threshold`` or more,
when the model's own review says the answer is correct (Madaan et al.'s stop indicator), when
``rounds`` (default: the budget's n) are done, or when the token budget cannot pay for the next
call. With a reward model the best-scored version is returned (ties: the latest), else the latest.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Sequence

from .._exceptions import ConfigError
from .base import Run, Strategy, StrategyResult
from .prompting import render
from .reward_choice import resolve_reward
from .sampling import Sample, affordable, draw
from .scoring import feed, score_outputs, wants_logprobs

log = logging.getLogger(__name__)

_VERDICT = re.compile(r"verdict\s*[:：]\s*\**\s*(correct|wrong|incorrect|right)", re.IGNORECASE)


def parse_verdict(review: str) -> bool | None:
    """True for "Verdict: correct", False for "Verdict: wrong", None when there is no verdict."""
    found = _VERDICT.findall(review)
    if not found:
        return None
    return found[-1].lower() in ("correct", "right")


def _clean(text: str) -> str:
    return text.strip()


class SelfRefine(Strategy):
    """Draft → critique → revise loop.

    ``rounds`` overrides the budget's n (critique/revise rounds); ``threshold`` is the reward at
    which an answer is accepted (used only with a reward model); ``use_reward`` picks the run's
    reward (True), none (False) or a given model/name.
    """

    name = "self-refine"

    def __init__(self, rounds: int | None = None, *, threshold: float = 0.5, reward: Any = None,
                 strict: bool = False, temperature: float | None = None) -> None:
        if rounds is not None and (not isinstance(rounds, int) or rounds < 1):
            raise ConfigError(f"self-refine rounds must be an integer >= 1, got {rounds!r}")
        if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}")
        self.rounds = rounds
        self.threshold = float(threshold)
        self.reward = reward
        self.strict = strict
        self.temperature = temperature

    def run(self, run: Run) -> StrategyResult:
        return self.run_with(run, ())

    def run_with(self, run: Run, prior: Sequence[Sample]) -> StrategyResult:
        """Refine ``prior[0]`` when given (``auto`` hands over a probe sample), else a fresh draft."""
        rounds = self.rounds or run.budget.n
        reward = resolve_reward(self.reward, run, required=False)
        temp = self.temperature if self.temperature is not None else (run.budget.temperature or 0.0)
        logprobs = wants_logprobs(reward)
        draft = prior[0] if prior and not (logprobs and prior[0].logprobs is None) else \
            draw(run, 1, temperature=temp, logprobs=logprobs)[0]
        feed_items = [(draft.text, draft.logprobs)]
        versions = [_clean(draft.text)]
        answers = [draft.answer]
        scores: list[float | None] = []
        stopped = "rounds done"
        task, domain = run.task, run.task.domain
        for rnd in range(rounds + 1):
            if reward is not None:
                feed(run, reward, feed_items)
                scores += score_outputs(run, [versions[-1]], reward=reward, strict=self.strict,
                                        indices=[len(versions) - 1])
                if scores[-1] is not None and scores[-1] >= self.threshold:
                    stopped = f"reward {scores[-1]:.3f} >= threshold {self.threshold}"
                    break
            if rnd == rounds:
                break
            can = affordable(run)
            if can is not None and can < 2:  # a critique and a revision
                stopped = "token budget spent"
                break
            prompt, stop = render("critique", domain, run.backend, question=task.question, attempt=versions[-1])
            review = run.generate([prompt], run.params(stop=stop, temperature=temp), stream=False, kind="critique")[0]
            review_text = review.completions[0].text.strip()
            verdict = parse_verdict(review_text)
            run.event("critique", review_text, round=rnd + 1, verdict=verdict)
            if verdict is True:
                stopped = "the review found no mistake"
                break
            prompt, stop = render("revise", domain, run.backend, question=task.question,
                                  attempt=versions[-1], review=_first_paragraph(review_text))
            comp = run.generate([prompt], run.params(stop=stop, temperature=temp, logprobs=logprobs),
                                kind="revision")[0].completions[0]
            feed_items.append((comp.text, comp.logprobs))
            text = _clean(comp.text)
            answer = task.extract(text)
            run.event("revision", text, round=rnd + 1, answer=answer, tokens=comp.num_tokens)
            versions.append(text)
            answers.append(answer)
        best = len(versions) - 1
        scored = [i for i, s in enumerate(scores) if s is not None]
        if scored:
            best = max(scored, key=lambda i: (scores[i], i))
        elif reward is not None:
            log.warning("self-refine: the reward failed on every version; returning the latest")
            run.event("fallback", "latest", reason="no version could be scored")
        run.event("stop", stopped, versions=len(versions), chosen=best)
        return run.result(self.name, answers[best], versions[best],
                          score=scores[best] if best < len(scores) else None,
                          versions=len(versions), stopped=stopped)


def _first_paragraph(review: str) -> str:
    """The review without its verdict line (the revise prompt shows reviews that way)."""
    lines = [ln for ln in review.splitlines() if ln.strip() and not _VERDICT.search(ln)]
    return " ".join(ln.strip() for ln in lines) or review.strip()
