"""Dataset-level language GPI: the policy is the solver's instruction text.

Each iteration:

1. **evaluate** the instruction on the training split with the reward (a grader);
2. the model writes a **language evaluation** of the failures (the language value of the policy);
3. the model **rewrites** the instruction from that evaluation (the improvement operator);
4. the rewrite is **kept only if it scores better on the held-out split**.

The per-iteration metric is the held-out accuracy of the policy kept after the iteration.

Records come from the vendored data (``load_records``) or any list of :class:`Record`. The grader
is ``grade(output, reference) -> bool``; by default the project's verifiers
(``nlrl.verifiers``) when they provide the dataset's checker, else a small built-in one.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from .._exceptions import ConfigError, DatasetError, NLRLError, ParseError, UnknownNameError
from ..backends.base import Backend, SamplingParams
from .llm import JsonCaller, Ledger
from .templates import PROMPT_DIR, PromptSet, load_prompts

Grader = Callable[[str, str], bool]
DATA_DIR = Path(__file__).resolve().parent.parent / "_data"


@dataclass(frozen=True)
class Record:
    """One question and its reference answer (``question`` already holds any choices)."""

    id: str
    question: str
    reference: str


# name -> (file under the data dir, the checker of nlrl.verifiers, the built-in grader)
DATASETS: dict[str, tuple[str, str, str]] = {
    "gsm8k": ("gsm8k/test.jsonl", "math", "number"),
    "math500": ("math500/test.jsonl", "math", "exact"),
    "strategyqa": ("strategyqa/dev.eladsegal.json", "yesno", "yesno"),
    "commonsenseqa": ("commonsenseqa/dev_rand_split.jsonl", "choice", "choice"),
}
CHANCE = {"strategyqa": 0.5, "commonsenseqa": 0.2}


def data_dir() -> Path:
    """``NLRL_DATA_DIR`` if set, else the data vendored in the package."""
    env = os.environ.get("NLRL_DATA_DIR")
    return Path(env) if env else DATA_DIR


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
        if not isinstance(data, list):
            raise DatasetError("expected a JSON list of records", path=str(path))
        return list(enumerate(data, 1))
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"invalid JSON: {exc.msg}", path=str(path), line=n) from exc
    return rows


def _record(name: str, i: int, row: dict[str, Any]) -> Record:
    if name == "gsm8k":
        ref = row["answer"].split("####")[-1].strip().replace(",", "")
        return Record(f"gsm8k-{i}", row["question"], ref)
    if name == "math500":
        return Record(row.get("unique_id", f"math500-{i}"), row["problem"], str(row["answer"]))
    if name == "strategyqa":
        return Record(row["qid"], row["question"], "yes" if row["answer"] else "no")
    q = row["question"]
    choices = "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
    return Record(row["id"], f"{q['stem']}\n{choices}", row["answerKey"])


def load_records(name: str, *, limit: int | None = None, path: str | Path | None = None) -> list[Record]:
    """Records of dataset ``name`` from the vendored file (or ``path``), first ``limit`` only."""
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, sorted(DATASETS))
    p = Path(path) if path else data_dir() / DATASETS[name][0]
    out = []
    for line, row in _rows(p):
        try:
            out.append(_record(name, line, row))
        except (KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"malformed {name} record ({exc!r})", path=str(p), line=line) from exc
        if limit is not None and len(out) >= limit:
            break
    return out


# ---- graders -------------------------------------------------------------------------------

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _final_part(output: str) -> str:
    """The text after the last 'Answer:' (the format the solver prompt asks for), else all of it."""
    idx = output.rfind("Answer:")
    return output[idx + 7:] if idx >= 0 else output


def grade_number(output: str, reference: str) -> bool:
    nums = _NUM.findall(_final_part(output))
    if not nums:
        return False
    # after "Answer:" the first number is the answer; without it, the last number written
    picked = nums[0] if "Answer:" in output else nums[-1]
    try:
        return abs(float(picked.replace(",", "")) - float(reference)) < 1e-6
    except ValueError:
        return False


def grade_yesno(output: str, reference: str) -> bool:
    m = re.search(r"\b(yes|no)\b", _final_part(output).lower())
    return bool(m) and m.group(1) == reference.strip().lower()


def grade_choice(output: str, reference: str) -> bool:
    m = re.search(r"\b([A-E])\b", _final_part(output))
    return bool(m) and m.group(1) == reference.strip().upper()


def grade_exact(output: str, reference: str) -> bool:
    norm = lambda s: re.sub(r"\s+|\\boxed\{|\}|\$", "", s).strip().rstrip(".")  # noqa: E731
    return norm(_final_part(output)) == norm(reference)


BUILTIN = {"number": grade_number, "yesno": grade_yesno, "choice": grade_choice, "exact": grade_exact}


def default_grader(name: str) -> tuple[Grader, str]:
    """The grader of dataset ``name`` and a label saying which one it is."""
    _, checker, builtin = DATASETS[name]
    try:
        from ..verifiers import get_verifier

        verifier = get_verifier(checker)
    except (ImportError, NLRLError):
        return BUILTIN[builtin], f"builtin:{builtin}"
    return (lambda output, reference: bool(verifier.check(output, reference).correct)), f"nlrl.verifiers:{checker}"


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
        grade: Grader,
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
        return self.prompts.render("solve", instruction=instruction, question=record.question, ex=self.example)

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
                rows.append({"id": r.id, "question": r.question, "output": out, "reference": r.reference,
                             "correct": bool(self.grade(out, r.reference))})
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
            "chance": CHANCE.get(self.dataset),
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
