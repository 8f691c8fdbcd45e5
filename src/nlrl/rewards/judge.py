"""LLM-as-judge: ask a backend to rate an answer from 1 to 10.

Base models get a few-shot completion prompt ending in ``Score:``; chat models get the same
examples in a chat template. The first number in the reply is the rating (``8``, ``8/10``,
``Score: 7.5``, ``eight``), clamped to [1, 10] and mapped to [0, 1] as ``(s - 1) / 9``. An
unreadable reply is retried (sampled, new seed) up to ``retries`` times, then
:class:`~nlrl.VerifierError` is raised: a judge that cannot answer gives no score, not 0.5.
"""

from __future__ import annotations

import re
from typing import Sequence

from .._exceptions import ConfigError, VerifierError
from ..backends import Backend, SamplingParams
from .base import RewardModel

INSTRUCTION = ("Rate how correct each answer to the question is, from 1 (wrong) to 10 "
               "(fully correct and well reasoned).")

EXAMPLES: tuple[tuple[str, str, int], ...] = (
    ("What is 12 + 7?", "12 + 7 = 19.\nFinal Answer: 19", 10),
    ("What is the capital of Australia?", "The largest city is Sydney, so the capital is Sydney.\n"
     "Final Answer: Sydney", 1),
    ("How many legs do 3 spiders have?", "A spider has 8 legs, so 3 spiders have 3 * 8 = 24 legs.\n"
     "Final Answer: 24", 10),
    ("What is 15% of 80?", "15% of 80 is 0.15 * 80 = 10.\nFinal Answer: 10", 2),
    ("Is 91 a prime number?", "91 = 7 * 13, so it is not prime.\nFinal Answer: no", 9),
)

_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*/\s*10\b)?|\b(" + "|".join(_WORDS) + r")\b", re.I)


def parse_rating(text: str) -> float | None:
    """The first rating in ``text`` clamped to [1, 10], or None when there is none."""
    m = _NUMBER.search(text or "")
    if not m:
        return None
    value = float(m.group(1)) if m.group(1) else float(_WORDS[m.group(2).lower()])
    return min(10.0, max(1.0, value))


class LLMJudgeReward(RewardModel):
    """Scores with a backend's 1-10 rating (see the module docstring)."""

    name = "judge"

    def __init__(self, backend: Backend | None = None, *, examples: Sequence[tuple[str, str, int]] = EXAMPLES,
                 retries: int = 2, max_output_chars: int = 3000, seed: int = 0) -> None:
        if backend is None:
            raise ConfigError("LLMJudgeReward needs a backend to ask")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        self.backend = backend
        self.examples = tuple(examples)
        self.retries = retries
        self.max_output_chars = max_output_chars
        self.seed = seed

    def _answer(self, output: str) -> str:
        out = (output or "").strip()
        if len(out) > self.max_output_chars:  # keep the end, where the final answer is
            out = "..." + out[-self.max_output_chars:]
        return out

    def prompt(self, question: str, output: str) -> str:
        """The text sent to the backend."""
        shots = [(q, a, str(s)) for q, a, s in self.examples]
        if self.backend.chat:
            messages = [{"role": "system", "content": INSTRUCTION + " Reply with the number only."}]
            for q, a, s in shots:
                messages += [{"role": "user", "content": f"Question: {q}\nAnswer: {a}"},
                             {"role": "assistant", "content": s}]
            messages.append({"role": "user", "content": f"Question: {question.strip()}\nAnswer: {self._answer(output)}"})
            rendered = self.backend.apply_chat_template(messages)
            if rendered is not None:
                return rendered
        body = "".join(f"Question: {q}\nAnswer: {a}\nScore: {s}\n\n" for q, a, s in shots)
        return f"{INSTRUCTION}\n\n{body}Question: {question.strip()}\nAnswer: {self._answer(output)}\nScore:"

    def rate(self, prompt: str, output: str) -> tuple[float, str]:
        """The 1-10 rating and the reply it was read from."""
        text = self.prompt(prompt, output)
        replies = []
        for attempt in range(self.retries + 1):
            params = SamplingParams(max_tokens=8, stop=("\n",), temperature=0.0 if attempt == 0 else 0.8,
                                    seed=self.seed + attempt)
            reply = self.backend.generate([text], params)[0].completions[0].text
            rating = parse_rating(reply)
            if rating is not None:
                return rating, reply
            replies.append(reply)
        raise VerifierError(f"the judge gave no rating in {len(replies)} tries: {replies!r}"[:300])

    def score(self, prompt: str, output: str) -> float:
        rating, _ = self.rate(prompt, output)
        return (rating - 1.0) / 9.0
