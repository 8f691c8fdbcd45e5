"""Which default answers simple arithmetic right on the embedded model? (README's first example)

30 two-digit questions ("What is a + b?", "What is a - b?", drawn with a fixed seed, plus the
README's "What is 23 + 15?") answered by candidate strategies and prompts on Gemma 3 270M,
one llama.cpp thread; accuracy, completion tokens and seconds per question are written to
benchmarks/results/arithmetic.json. Candidates:

- ``cot``: the default (greedy chain of thought on the math template);
- ``cot+place-value``: the same with one more worked example that adds by place value;
- ``self-consistency``: n samples at a low temperature, majority vote, on either prompt.

Usage: python benchmarks/arithmetic.py [--questions 30] [--n 5] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import time
from pathlib import Path

from nlrl import Pipeline
from nlrl.backends.llama import LlamaCppBackend
from nlrl.tasks.prompts import STOP, _ENV, load_template
from nlrl.tasks.task import Task

RESULTS = Path(__file__).parent / "results" / "arithmetic.json"
HEADLINE = ("What is 23 + 15?", 38)
PLACE_VALUE = {
    "question": "What is 46 + 27?",
    "steps": ["Add the tens: 40 + 20 = 60.", "Add the ones: 6 + 7 = 13.", "Then 60 + 13 = 73."],
    "answer": "73",
}


def questions(count: int, seed: int = 0) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if i % 2:
            a, b = max(a, b), min(a, b)
            out.append((f"What is {a} - {b}?", a - b))
        else:
            out.append((f"What is {a} + {b}?", a + b))
    return out


def task(question: str, place_value: bool) -> Task:
    spec = load_template("math")
    examples = list(spec["examples"]) + ([PLACE_VALUE] if place_value else [])
    text = _ENV.get_template("completion.jinja").render(
        instruction=spec["instruction"], examples=examples, question=question, steps=None,
        domain="math")
    return Task(question, "math", text, STOP)


def as_int(answer: str | None) -> int | None:
    m = re.fullmatch(r"\s*\$?(-?\d+)(?:\.0+)?\s*\.?\s*", answer or "")
    return int(m.group(1)) if m else None


def evaluate(backend: LlamaCppBackend, name: str, qs: list[tuple[str, int]], *, strategy: str,
             place_value: bool, n: int = 1, temperature: float | None = None) -> dict:
    pipe = Pipeline(backend, strategy=strategy, n=n, temperature=temperature, seed=0, max_tokens=96)
    rows, start = [], time.perf_counter()
    for q, want in qs:
        res = pipe.solve(task(q, place_value))
        rows.append({"question": q, "expected": want, "answer": res.final_answer,
                     "correct": as_int(res.final_answer) == want,
                     "completion_tokens": res.usage.completion_tokens})
    dt = time.perf_counter() - start
    right = sum(r["correct"] for r in rows)
    summary = {
        "name": name, "strategy": strategy, "place_value_example": place_value, "n": n,
        "temperature": 0.0 if temperature is None else temperature,
        "correct": right, "total": len(rows), "accuracy": round(right / len(rows), 4),
        "completion_tokens_per_question": round(sum(r["completion_tokens"] for r in rows) / len(rows), 1),
        "seconds_per_question": round(dt / len(rows), 2),
        "rows": rows,
    }
    print(f"{name}: {right}/{len(rows)}  {summary['seconds_per_question']} s/question", flush=True)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--n", type=int, default=5, help="samples for self-consistency")
    ap.add_argument("--temperature", type=float, default=0.5, help="for self-consistency")
    ap.add_argument("--only", nargs="*", help="run only these candidates")
    args = ap.parse_args()
    qs = [HEADLINE] + questions(args.questions)
    candidates = {
        "cot": dict(strategy="cot", place_value=False),
        "cot+place-value": dict(strategy="cot", place_value=True),
        f"self-consistency n={args.n} T={args.temperature}": dict(
            strategy="self-consistency", place_value=False, n=args.n, temperature=args.temperature),
        f"self-consistency+place-value n={args.n} T={args.temperature}": dict(
            strategy="self-consistency", place_value=True, n=args.n, temperature=args.temperature),
    }
    backend = LlamaCppBackend(n_ctx=2048, n_threads=1)
    results = {
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
        "model": backend.model_name,
        "threads": 1,
        "questions": "What is 23 + 15? (README) + %d two-digit sums/differences, random.Random(0)"
                     % args.questions,
        "candidates": [evaluate(backend, name, qs, **kw) for name, kw in candidates.items()
                       if not args.only or name.split(" ")[0] in args.only],
    }
    backend.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
