"""Dataset-level language GPI: the policy is the solver's instruction text.

Each iteration:

1. **evaluate** the instruction on the training split with the reward (a grader);
2. the model writes a **language evaluation** of the failures (the language value of the policy);
3. the model **rewrites** the instruction from that evaluation (the improvement operator);
4. the rewrite is **kept only if it scores better on the held-out split**.

The per-iteration metric is the held-out accuracy of the policy kept after the iteration.

Records are benchmark records (:class:`nlrl.bench.Record`, e.g. ``load_dataset("gsm8k")``); the
solver sees ``record.prompt``. An output is graded the way the benchmark runner grades, by the
record's verifier (:class:`nlrl.bench.grading.Grader`: ``get_verifier(record.checker).check(text, ...)``);
``text`` is the answer line the solver prompt asks for (see :func:`final_answer`), else the whole
output. Any ``grade(output, reference) -> bool`` can replace it.

>>> from nlrl.bench import load_dataset
>>> train, heldout = split(load_dataset("strategyqa"), 8, 8)
>>> DatasetGPI(backend, train, heldout, dataset="strategyqa").run(3)   # doctest: +SKIP
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import yaml

from .._exceptions import ConfigError, ParseError, UnknownNameError
from ..backends.base import Backend, SamplingParams
from ..verifiers.answers import answer_after
from .llm import JsonCaller, Ledger
from .templates import PROMPT_DIR, PromptSet, load_prompts

if TYPE_CHECKING:
    from ..bench.records import Record

Grader = Callable[[str, Any], bool]
CHANCE = {"strategyqa": 0.5, "commonsenseqa": 0.2}


def known_datasets() -> list[str]:
    """The datasets the solver has prompt pieces for (``prompts/dataset_examples.yaml``)."""
    return sorted(_load_examples())


def final_answer(output: str) -> str | None:
    """The answer line the solver prompt asks for: what follows the last "Answer:" on its line (or
    on the next non-empty line), else None.

    The verifiers read this line alone (read whole, an output that ends "... fridge. Answer: B"
    shows them no answer line), and not as a "Final Answer:" line, so that their closing-sentence
    rule takes the number of "19 pens." or the result of "3 + 16 = 19". Non-numeric math answers
    are read when boxed, as the prompt's example shows.

    >>> final_answer("It swims. Answer: no\\nFish do.")
    'no'
    """
    return answer_after(output, "Answer:")


# ---- the GPI loop ------------------------------------------------------------------------------

def _load_examples() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((PROMPT_DIR / "dataset_examples.yaml").read_text(encoding="utf-8"))


class DatasetGPI:
    """Language GPI over a solver instruction, with a train split and a held-out split."""

    def __init__(
        self,
        backend: Backend,
        train: Sequence[Record],
        heldout: Sequence[Record],
        grade: Grader | None = None,
        *,
        dataset: str = "gsm8k",
        instruction: str | None = None,
        caller: JsonCaller | None = None,
        max_failures_shown: int = 2,
        max_instruction_chars: int = 300,
        prompts: PromptSet | None = None,
        solve_max_tokens: int | None = None,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if not train or not heldout:
            raise ConfigError("dataset GPI needs a non-empty train split and held-out split")
        examples = _load_examples()
        if dataset not in examples:
            raise UnknownNameError("dataset", dataset, sorted(examples))
        self.example = examples[dataset]
        self.dataset = dataset
        self.backend = backend
        self.train, self.heldout = list(train), list(heldout)
        self.grade = grade
        self.grader = (f"nlrl.verifiers:{','.join(sorted({r.checker for r in self.train + self.heldout}))}"
                       if grade is None else f"custom:{getattr(grade, '__qualname__', type(grade).__name__)}")
        from ..bench.grading import Grader  # the runner's grading, without loading the harness up front

        self._checks = Grader()
        self.instruction = instruction or self.example["instruction"]
        self.caller = caller or JsonCaller(backend, max_tokens=96, seed=seed)
        self.ledger: Ledger = self.caller.ledger
        self.prompts = (prompts or load_prompts("dataset")).require("solve", "evaluate", "rewrite")
        self.max_failures_shown = max_failures_shown
        self.max_instruction_chars = max_instruction_chars
        self.solve_params = SamplingParams(max_tokens=solve_max_tokens or int(self.example["max_tokens"]),
                                           stop=tuple(self.example["stop"]), temperature=0.0)
        self._scores: dict[tuple[str, tuple[str, ...]], tuple[float, list[dict[str, Any]]]] = {}
        self._rng = random.Random(seed)
        self._say = progress or (lambda _m: None)

    def solve_prompt(self, instruction: str, record: Record) -> str:
        return self.prompts.render("solve", instruction=instruction, question=record.prompt, ex=self.example)

    def is_correct(self, output: str, record: Record) -> bool:
        """Whether ``output`` answers ``record``: by ``grade`` when one was given, else by the
        record's verifier reading the answer line (:func:`final_answer`), else the whole output."""
        if self.grade is not None:
            return bool(self.grade(output, record.reference))
        # code and COLLIE are graded on the whole output (as the runner does), not on one line
        answer = None if record.checker in ("code", "collie") else final_answer(output)
        return bool(self._checks.check(record, answer if answer is not None else output).correct)

    def score(self, instruction: str, records: Sequence[Record]) -> tuple[float, list[dict[str, Any]]]:
        """Accuracy of ``instruction`` on ``records`` (greedy solving, so results are reused)."""
        key = (instruction, tuple(r.id for r in records))
        if key not in self._scores:
            prompts = [self.solve_prompt(instruction, r) for r in records]
            rows = []
            for r, prompt in zip(records, prompts):
                gen = self.backend.generate([prompt], self.solve_params)[0]
                self.ledger.record_usage("solve", gen.usage)
                self.ledger.role("solve").requests += 1
                out = gen.completions[0].text.strip()
                rows.append({"id": r.id, "question": r.prompt, "output": out, "reference": r.reference,
                             "correct": self.is_correct(out, r)})
            acc = sum(x["correct"] for x in rows) / len(rows)
            self._scores[key] = (round(acc, 4), rows)
        return self._scores[key]

    def evaluate_policy(self, instruction: str, rows: list[dict[str, Any]]) -> str | None:
        """The language value of ``instruction``: the model's evaluation of its failures."""
        failures = [r for r in rows if not r["correct"]]
        if not failures:
            return None
        shown = self._rng.sample(failures, min(self.max_failures_shown, len(failures)))
        clip = lambda s, n: s if len(s) <= n else s[: n - 3] + "..."  # noqa: E731
        shown = [{"question": clip(f["question"].replace("\n", " "), 160),
                  "output": clip(f["output"].replace("\n", " "), 120) or "(nothing)",
                  "reference": f["reference"]} for f in shown]
        prompt = self.prompts.render("evaluate", instruction=instruction, failures=shown,
                                     wrong=len(failures), total=len(rows), ex=self.example)
        ans = self.caller.ask("evaluate", prompt, required={"thought": str, "final_evaluation": str},
                              nonempty=("final_evaluation",))
        if not ans.ok:
            return None
        return f"{ans.value['thought'].strip()} {ans.value['final_evaluation'].strip()}".strip()

    def rewrite(self, instruction: str, evaluation: str) -> str | None:
        """The improvement operator: a new instruction from the evaluation (None when unparseable)."""
        def validate(value: dict[str, Any]) -> dict[str, Any]:
            text = value["instruction"].strip()
            if len(text) > self.max_instruction_chars:
                raise ParseError(f"instruction longer than {self.max_instruction_chars} characters")
            return {**value, "instruction": text}

        prompt = self.prompts.render("rewrite", instruction=instruction, evaluation=evaluation, ex=self.example)
        ans = self.caller.ask("rewrite", prompt, required={"thought": str, "instruction": str},
                              nonempty=("instruction",), validate=validate)
        return ans.value["instruction"] if ans.ok else None

    def run(self, iterations: int) -> dict[str, Any]:
        if not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got {iterations!r}")
        started = time.perf_counter()
        before = self.ledger.copy()
        held_acc, _ = self.score(self.instruction, self.heldout)
        base_usage = self.ledger.minus(before).total()
        baseline = {"accuracy": held_acc, "instruction": self.instruction,
                    "calls": base_usage.calls, "tokens": base_usage.prompt_tokens + base_usage.completion_tokens}
        self._say(f"initial instruction: held-out accuracy {held_acc}")
        rows = []
        for it in range(1, iterations + 1):
            before, t0 = self.ledger.copy(), time.perf_counter()
            train_acc, train_rows = self.score(self.instruction, self.train)
            evaluation = self.evaluate_policy(self.instruction, train_rows)
            candidate = self.rewrite(self.instruction, evaluation) if evaluation else None
            cand_acc = None
            accepted = False
            if candidate and candidate != self.instruction:
                cand_acc, _ = self.score(candidate, self.heldout)
                if cand_acc > held_acc:
                    self.instruction, held_acc, accepted = candidate, cand_acc, True
            diff = self.ledger.minus(before)
            spent, solved = diff.total(), diff.role("solve").requests
            rows.append({
                "iteration": it, "accuracy": held_acc, "train_accuracy": train_acc,
                "candidate_accuracy": cand_acc, "accepted": accepted,
                "instruction": self.instruction, "candidate": candidate, "evaluation": evaluation,
                "calls": spent.calls, "prompt_tokens": spent.prompt_tokens,
                "completion_tokens": spent.completion_tokens,
                "questions_solved": solved,
                # a step is one question solved; evaluation and rewrite calls are spread over them
                "calls_per_step": round(spent.calls / solved, 3) if solved else float(spent.calls),
                "tokens_per_step": round((spent.prompt_tokens + spent.completion_tokens) / solved, 1)
                if solved else float(spent.prompt_tokens + spent.completion_tokens),
                "parse_failures": spent.parse_failures, "fallbacks": spent.fallbacks,
                "wall_s": round(time.perf_counter() - t0, 2),
            })
            self._say(f"iteration {it}: held-out {held_acc} (train {train_acc}, candidate {cand_acc}, "
                      f"{'kept' if accepted else 'rejected'})")
        return {
            "env": f"dataset:{self.dataset}", "metric": "accuracy",
            "train_size": len(self.train), "heldout_size": len(self.heldout),
            "chance": CHANCE.get(self.dataset), "grader": self.grader,
            "model": getattr(self.backend, "model_name", "?"), "backend": getattr(self.backend, "name", "?"),
            "baselines": {"language_policy": baseline},
            "iterations": rows, "usage": self.ledger.to_dict(),
            "final_instruction": self.instruction,
            "wall_s": round(time.perf_counter() - started, 2),
        }


def split(records: Sequence[Record], train: int, heldout: int) -> tuple[list[Record], list[Record]]:
    """The first ``train`` records and the next ``heldout`` ones (disjoint)."""
    if train < 1 or heldout < 1:
        raise ConfigError("train and held-out sizes must be >= 1")
    if train + heldout > len(records):
        raise ConfigError(f"{train} + {heldout} records asked, the dataset has {len(records)}")
    return list(records[:train]), list(records[train:train + heldout])
