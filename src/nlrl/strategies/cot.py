"""Chain of thought (Wei et al. 2022): one sample of the few-shot CoT prompt, greedy by default."""

from __future__ import annotations

from ..backends import Generation
from .base import Run, Strategy, StrategyResult


class ChainOfThought(Strategy):
    name = "cot"
    runs_on_loop = True

    def run(self, run: Run) -> StrategyResult:
        return self._answer(run, run.sample())

    async def arun(self, run: Run) -> StrategyResult:
        return self._answer(run, await run.asample())

    def _answer(self, run: Run, gen: Generation) -> StrategyResult:
        comp = gen.completions[0]
        answer = run.task.extract(comp.text)
        run.event("sample", comp.text, index=0, answer=answer, finish_reason=comp.finish_reason,
                  tokens=comp.num_tokens)
        return run.result(self.name, answer, comp.text)
