"""DeepConf (online, offline) vs self-consistency at N = 8 on the embedded model: generated tokens
and accuracy, paired per problem, written to benchmarks/results/deepconf.json.

    NLRL_THREADS=1 python benchmarks/deepconf.py                 # 40 problems
    NLRL_THREADS=1 python benchmarks/deepconf.py --problems 4    # a quick look

Problems: a deterministic set generated here (``random.Random(2025)``), "What is X + Y?" with X a
two-digit number in [10, 40] and Y a digit in [2, 9], drawn with replacement (a question may
repeat, with its own seeds). Two-digit + two-digit sums were tried first
on two problems and the model (Gemma 3 270M base) got almost every sample wrong, so the easier
form was chosen for signal; nothing else was tuned on these problems.

Per problem (seed ``SEED + 100 * i``, the "easy" one-example math prompt, ``max_tokens`` 32,
temperature 0.7, a :class:`~nlrl.gists.GistStream` that ends each sample at its final-answer line,
as ``nlrl solve`` does):

* ``deepconf`` offline (eta 50, window 8) draws all 8 samples in full. Self-consistency is n
  samples plus a majority vote over them, so its figures are the plain majority over these same
  8 samples and its tokens are the offline run's: the pairing is exact. (A separate
  self-consistency run with the same seeds would draw slightly different samples: the engine
  re-feeds a cached prompt's last token, and those logits differ in the last bits from a full
  prefill's, enough to change a sampled token now and then.);
* ``deepconf`` online (eta 10, window 8, 2 warm-up samples) runs on its own: its later 6 samples
  are really stopped early by the backend.

Accuracy carries Wilson 95% intervals; differences (online - self-consistency) carry paired
percentile-bootstrap 95% intervals over problems (``nlrl.bench.metrics.bootstrap_interval`` for
means; the same resampling for the token ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.backends import load_backend  # noqa: E402
from nlrl.bench.metrics import accuracy, bootstrap_interval  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.strategies import Budget, majority  # noqa: E402
from nlrl.strategies.deepconf import DeepConf  # noqa: E402
from nlrl.strategies.voting import equivalence_for  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402
from nlrl.verifiers.math import answers_equivalent  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SEED = 4321
N = 8
MAX_TOKENS = 32
TEMPERATURE = 0.7
# consensus None: this benchmark measured the early-stop gate alone (before adaptive sampling existed)
ONLINE = {"mode": "online", "eta": 10.0, "window": 8, "warmup": 2, "consensus": None}
OFFLINE = {"mode": "offline", "eta": 50.0, "window": 8}


def problems(count: int) -> list[tuple[str, str]]:
    rng = random.Random(2025)
    out = []
    for _ in range(count):
        x, y = rng.randint(10, 40), rng.randint(2, 9)
        out.append((f"What is {x} + {y}?", str(x + y)))
    return out


def correct(answer: str | None, gold: str) -> bool:
    return answer is not None and answers_equivalent(answer, gold)


def run_problem(backend, i: int, question: str, gold: str) -> dict:
    task = Task.build(question, domain="math", difficulty="easy")
    budget = Budget(n=N, max_tokens=MAX_TOKENS, temperature=TEMPERATURE, seed=SEED + 100 * i)
    t0 = time.perf_counter()
    off = DeepConf(**OFFLINE)(task, backend, budget=budget, on_token=GistStream("math"))
    t1 = time.perf_counter()
    on = DeepConf(**ONLINE)(task, backend, budget=budget, on_token=GistStream("math"))
    t2 = time.perf_counter()
    answers = [e.data["answer"] for e in off.trace if e.kind == "sample"]
    sc = majority(answers, equivalent=equivalence_for("math", question)).answer
    return {
        "i": i, "question": question, "gold": gold,
        "sc": {"answer": sc, "correct": correct(sc, gold), "tokens": off.usage.completion_tokens},
        "offline": {"answer": off.answer, "correct": correct(off.answer, gold),
                    "tokens": off.usage.completion_tokens, "voters": off.extra.get("voters"),
                    "fallback": off.extra.get("fallback"), "wall_s": round(t1 - t0, 2)},
        "online": {"answer": on.answer, "correct": correct(on.answer, gold),
                   "tokens": on.usage.completion_tokens, "voters": on.extra.get("voters"),
                   "stopped_early": on.extra.get("stopped_early"), "threshold": on.extra.get("threshold"),
                   "fallback": on.extra.get("fallback"), "wall_s": round(t2 - t1, 2)},
        "sample_correct": sum(correct(a, gold) for a in answers),
    }


def ratio_interval(num: np.ndarray, den: np.ndarray, iterations: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(iterations, len(num)))
    ratios = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return [round(float(lo), 4), round(float(hi), 4)]


def summarize(rows: list[dict]) -> dict:
    sc_tok = np.array([r["sc"]["tokens"] for r in rows], dtype=float)
    summary: dict = {}
    for m in ("sc", "offline", "online"):
        tok = np.array([r[m]["tokens"] for r in rows], dtype=float)
        summary[m] = {**accuracy(r[m]["correct"] for r in rows), "tokens": int(tok.sum()),
                      "tokens_per_problem": round(float(tok.mean()), 2)}
    for m in ("offline", "online"):
        tok = np.array([r[m]["tokens"] for r in rows], dtype=float)
        diff = [float(r[m]["correct"]) - float(r["sc"]["correct"]) for r in rows]
        lo, hi = bootstrap_interval(diff)
        summary[m]["vs_sc"] = {
            "accuracy_diff": round(float(np.mean(diff)), 4), "accuracy_diff_ci95": [round(lo, 4), round(hi, 4)],
            "token_ratio": round(float(tok.sum() / sc_tok.sum()), 4),
            "token_ratio_ci95": ratio_interval(tok, sc_tok),
            "tokens_saved_fraction": round(float(1 - tok.sum() / sc_tok.sum()), 4),
        }
    summary["online"]["stopped_early"] = int(sum(r["online"]["stopped_early"] or 0 for r in rows))
    summary["online"]["stoppable_samples"] = len(rows) * (N - ONLINE["warmup"])
    summary["sample_accuracy"] = round(sum(r["sample_correct"] for r in rows) / (N * len(rows)), 4)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=40, help="the first K of the fixed set")
    ap.add_argument("--out", default=str(RESULTS / "deepconf.json"))
    args = ap.parse_args()
    backend = load_backend("embedded", n_ctx=2048)
    rows_path = Path(args.out).with_suffix(".rows.jsonl")
    rows: list[dict] = []
    done = {}
    if rows_path.exists():  # resume: a finished problem is never recomputed
        for line in rows_path.read_text().splitlines():
            r = json.loads(line)
            done[r["i"]] = r
    start = time.perf_counter()
    with rows_path.open("a") as fh:
        for i, (q, gold) in enumerate(problems(args.problems)):
            if i in done:
                rows.append(done[i])
                continue
            r = run_problem(backend, i, q, gold)
            rows.append(r)
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            write(args, backend, rows, start)  # after every problem: stopping early loses nothing
            print(f"[{i + 1}/{args.problems}] {q} gold={gold} sc={r['sc']['answer']}/{r['sc']['tokens']} "
                  f"on={r['online']['answer']}/{r['online']['tokens']} off={r['offline']['answer']}", flush=True)
    print(json.dumps(write(args, backend, rows, start)["summary"], indent=1))


def write(args: argparse.Namespace, backend, rows: list[dict], start: float) -> dict:
    out = {
        "benchmark": "deepconf vs self-consistency",
        "model": backend.model_name,
        "config": {"n": N, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE, "seed": SEED,
                   "online": ONLINE, "offline": OFFLINE, "problems_planned": args.problems,
                   "problems_done": len(rows),
                   "problem_set": "What is X + Y?, X in [10, 40], Y in [2, 9], random.Random(2025)",
                   "prompt": "math, difficulty easy (one example)", "stop_at_answer_line": True,
                   "threads": os.environ.get("NLRL_THREADS")},
        "summary": summarize(rows),
        "wall_s_this_run": round(time.perf_counter() - start, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "note": "a shared 2-core machine: wall times are not comparable, tokens are"},
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out

if __name__ == "__main__":
    main()
