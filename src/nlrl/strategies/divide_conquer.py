"""Divide and conquer: least-to-most prompting (Zhou et al. 2023, arXiv 2205.10625).

The model first splits the problem into sub-questions (``decompose`` prompt), then answers them
in order, each with the earlier answers in context (``subanswer``), then states the final answer
from the answered sub-questions (``compose``). With n > 1, n chains are sampled and the composed
answers are put to a majority vote. A decomposition that yields no sub-question falls back to
answering the problem as its one sub-question (recorded in the trace).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .._exceptions import ConfigError
from ..verifiers.answers import final_answer_line
from .base import Run, Strategy, StrategyResult
from .prompting import render
from .sampling import Sample, affordable, sampling_temperature
from .self_consistency import vote_result, vote_samples

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")


def parse_subquestions(text: str, *, first_numbered: bool = True, limit: int = 6) -> list[str]:
    """Sub-questions from a numbered list; the prompt already wrote "1.", so the first line is
    item 1 even without its number. Duplicates and empty items are dropped."""
    out: list[str] = []
    for k, line in enumerate(text.splitlines()):
        m = _NUMBERED.match(line)
        item = m.group(1) if m else (line.strip() if k == 0 and first_numbered else "")
        if not item:
            if out:
                break  # the list has ended
            continue
        if item not in out:
            out.append(item)
        if len(out) >= limit:
            break
    return out


class DivideAndConquer(Strategy):
    """Decompose → answer sub-questions in order → compose; ``n`` chains voted when n > 1.

    ``max_subquestions`` caps the plan; ``temperature`` is used when n > 1 (one chain is greedy
    unless the budget sets a temperature).
    """

    name = "divide-and-conquer"

    def __init__(self, n: int | None = None, *, max_subquestions: int = 4,
                 temperature: float | None = None, subanswer_tokens: int = 64) -> None:
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"{self.name} n must be an integer >= 1, got {n!r}")
        if not isinstance(max_subquestions, int) or max_subquestions < 1:
            raise ConfigError(f"max_subquestions must be an integer >= 1, got {max_subquestions!r}")
        self.n = n
        self.max_subquestions = max_subquestions
        self.temperature = temperature
        self.subanswer_tokens = subanswer_tokens

    def run(self, run: Run) -> StrategyResult:
        n = self.n or run.budget.n
        temp = sampling_temperature(run, 0.0 if n == 1 and self.temperature is None else self.temperature)
        chains: list[Sample] = []
        for chain in range(n):
            if chain and (temp == 0.0 or (affordable(run) is not None and affordable(run) < 3)):
                break  # greedy chains repeat; or no room for decompose + answer + compose
            seed = None if run.budget.seed is None else run.budget.seed + chain
            chains.append(self._chain(run, chain, temp, seed))
        if len(chains) == 1:
            c = chains[0]
            return run.result(self.name, c.answer, c.text, chains=1)
        vote = vote_samples(run, chains)
        return vote_result(run, self.name, chains, vote, chains=len(chains))

    def _call(self, run: Run, prompt: str, stop: tuple[str, ...], temp: float, seed: int | None,
              max_tokens: int | None = None, *, kind: str) -> str | None:
        """One completion, cut to what the budget has left (None when nothing is left)."""
        cap = max_tokens or run.budget.max_tokens
        left = run.tokens_left()
        if left is not None:
            if left < 1:
                return None
            cap = min(cap, left)
        params = run.params(stop=stop, temperature=temp, seed=seed, max_tokens=cap)
        return run.generate([prompt], params, stream=False, kind=kind)[0].completions[0].text

    def _chain(self, run: Run, chain: int, temp: float, seed: int | None) -> Sample:
        task, domain, backend = run.task, run.task.domain, run.backend
        prompt, stop = render("decompose", domain, backend, question=task.question)
        plan = self._call(run, prompt, stop, temp, seed, kind="decompose") or ""
        subqs = parse_subquestions(plan, limit=self.max_subquestions)
        if not subqs:
            log.info("divide-and-conquer: no sub-questions in %r; answering the question directly", plan)
            run.event("fallback", "no sub-questions", chain=chain, plan=plan)
            subqs = [task.question]
        run.event("decompose", "\n".join(subqs), chain=chain, subquestions=len(subqs))
        solved: list[dict[str, Any]] = []
        for k, q in enumerate(subqs):
            run.event("subquestion", q, chain=chain, index=k)
            can = affordable(run, self.subanswer_tokens)
            if can is not None and can < 1:
                run.event("stop", "token budget spent", chain=chain, answered=k)
                break
            prompt, stop = render("subanswer", domain, backend, question=task.question, solved=solved,
                                  subquestion=q)
            ans = (self._call(run, prompt, stop, temp, seed, self.subanswer_tokens, kind="subanswer") or "").strip()
            solved.append({"question": q, "answer": ans})
            run.event("subanswer", ans, chain=chain, index=k)
        prompt, stop = render("compose", domain, backend, question=task.question, solved=solved)
        final = self._call(run, prompt, stop, temp, seed, self.subanswer_tokens, kind="compose")
        body = "".join(f"Sub-question: {s['question']}\nAnswer: {s['answer']}\n" for s in solved)
        if final is None:
            # No budget left to compose: the last sub-answer answers the problem itself.
            run.event("fallback", "last sub-answer", chain=chain, reason="token budget spent")
            return Sample(chain, body, task.extract(body) if body else None, 0)
        final = final.strip()
        text = f"{body}{final_answer_line(final)}\n"
        answer = task.extract(text) if final else None
        run.event("compose", final, chain=chain, answer=answer)
        return Sample(chain, text, answer, 0)
