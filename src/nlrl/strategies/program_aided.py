"""Program-aided reasoning: PAL (Gao et al. 2023, arXiv 2211.10435) and program of thought
(Chen et al. 2023, arXiv 2211.12588).

The model writes a short Python program for the question (the few-shot ``templates/program.yaml``
prompt; each program ends by printing the answer). Every program runs in the verifiers' sandbox
(:func:`nlrl.verifiers.sandbox.run_many`): a fresh isolated interpreter with a time limit, no
network and a read-only file system. The last line the program prints is its answer. With
``n > 1`` programs are sampled and the executed answers are voted on (:func:`majority`, answers
grouped by equivalence); a program that crashes, times out or prints nothing abstains. The
output ends with ``Final Answer: X`` so graders and votes read it as they read any strategy's.

The sandbox fails closed: where no isolation is available it raises
:class:`~nlrl.VerifierError` and nothing runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, Sequence

from .._exceptions import ConfigError
from ..verifiers.answers import final_answer_line
from ..verifiers.sandbox import RunResult, SandboxLimits, run_many
from .base import Run, Strategy, StrategyResult, TraceEvent, check_int
from .prompting import render
from .sampling import Sample, default_temperature, draw
from .voting import Equivalence, equivalence_for, majority

#: The default limits of one program: arithmetic needs a fraction of these.
DEFAULT_LIMITS = SandboxLimits(timeout_s=5.0, memory_mb=512, file_mb=1, disk_mb=8, procs=8,
                               output_bytes=64 * 1024)
_MAX_ANSWER = 200
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?")


def program_of(text: str) -> str:
    """The program in a completion: the text up to a closing fence, without an opening one.

    Not :func:`nlrl.verifiers.answers.extract_code`: the prompt here opened the fence, so the
    program is by construction the text before the first closing one. ``extract_code`` reads a
    whole answer's blocks and prefers one that defines a function or reads stdin, so a completion
    that runs on into another block (a model's ``def`` after the program) would have that block
    chosen instead of the program the prompt asked for.
    """
    text = _FENCE.sub("", text, count=1)
    end = text.find("```")
    return (text if end < 0 else text[:end]).rstrip() + "\n"


def answer_of(result: RunResult) -> str | None:
    """The answer a run printed: its last non-empty stdout line (None when it did not pass).

    A whole-number float (``15.0``) is written as an integer; other text is kept as printed.
    """
    if not result.passed:
        return None
    lines = [ln.strip() for ln in result.stdout.splitlines() if ln.strip()]
    if not lines:
        return None
    ans = lines[-1]
    if len(ans) > _MAX_ANSWER:
        return None
    try:
        value = float(ans.replace(",", ""))
    except ValueError:
        return ans
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return ans


def sandbox_limits(who: str, limits: SandboxLimits | None, timeout_s: float | None,
                   default: SandboxLimits = DEFAULT_LIMITS) -> SandboxLimits:
    """The sandbox limits of a strategy that runs programs: ``limits`` (else ``default``), with
    ``timeout_s`` as a shortcut for their time limit."""
    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ConfigError(f"{who} timeout_s must be > 0, got {timeout_s!r}")
    limits = limits or default
    return limits if timeout_s is None else replace(limits, timeout_s=float(timeout_s))


class ProgramAided(Strategy):
    """Sample programs, run them in the sandbox, vote over what they print.

    ``n`` overrides the budget's n; ``temperature`` the sampling temperature (the budget's, if
    set, wins; default greedy for one sample, the domain's measured default for several:
    :data:`~nlrl.strategies.sampling.DOMAIN_TEMPERATURES`); ``limits`` the sandbox limits of
    each program; ``equivalent`` the answer equivalence (default: per domain).
    """

    name = "program-aided"

    def __init__(self, n: int | None = None, *, temperature: float | None = None,
                 limits: SandboxLimits | None = None, equivalent: Equivalence | None = None,
                 timeout_s: float | None = None) -> None:
        check_int(self.name, "n", n)
        self.n = n
        self.temperature = temperature
        self.limits = sandbox_limits(self.name, limits, timeout_s)
        self.equivalent = equivalent

    def _temperature(self, run: Run, n: int) -> float:
        if run.budget.temperature is not None:
            return run.budget.temperature
        if self.temperature is not None:
            return self.temperature
        return 0.0 if n == 1 else default_temperature(run.task.domain)

    def run(self, run: Run) -> StrategyResult:
        n = self.n or run.budget.n
        prompt, stop = render("program", run.task.domain, run.backend, question=run.task.question)
        first = len(run.trace)
        samples = draw(run, n, temperature=self._temperature(run, n), prompt=prompt, stop=list(stop), kind="program")
        programs = [program_of(s.text) for s in samples]
        results = run_many(programs, self.limits) if programs else []
        executed: list[Sample] = []
        for s, program, res in zip(samples, programs, results):
            ans = answer_of(res)
            run.event("program", program, index=s.index, status=res.status, stdout=res.stdout[-2000:],
                      stderr=res.stderr[-2000:], result=ans, duration_s=round(res.duration_s, 3),
                      isolation=res.isolation)
            executed.append(replace(s, answer=ans))
        _answers_to_samples(run, first, {s.index: s.answer for s in executed})
        eq = self.equivalent or equivalence_for(run.task.domain, run.task.question)
        vote = majority([s.answer for s in executed], equivalent=eq)
        run.event("vote", vote.answer or "", samples=len(executed), agreement=round(vote.agreement, 4),
                  abstained=vote.abstained, groups=[g.to_dict() for g in vote.groups])
        return run.result(self.name, vote.answer, _output(executed, results, vote.winner),
                          samples=len(executed), executed=sum(r.passed for r in results),
                          agreement=round(vote.agreement, 4))


def _answers_to_samples(run: Run, first: int, answers: dict[int, str | None]) -> None:
    """A sample's answer is what its program printed, not text read out of the program."""
    for i in range(first, len(run.trace)):
        ev = run.trace[i]
        if ev.kind == "sample" and ev.data.get("index") in answers:
            run.trace[i] = TraceEvent("sample", ev.text, {**ev.data, "answer": answers[ev.data["index"]]})


def _output(samples: Sequence[Sample], results: Sequence[RunResult], winner: Any) -> str:
    """The winning program, what it printed, and the final-answer line (the first program when
    nothing won)."""
    if not samples:
        return ""
    i = winner.members[0] if winner is not None else 0
    program = program_of(samples[i].text)
    printed = results[i].stdout.strip() or results[i].summary()
    answer = samples[i].answer if winner is not None else None
    tail = final_answer_line(answer) if answer is not None else "No answer: no program printed a result."
    return f"```python\n{program}```\nOutput: {printed}\n{tail}\n"
