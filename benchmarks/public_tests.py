"""Public-test filtering (``public-tests``) against plain self-consistency and best-of-N at equal
samples, on MBPP and HumanEval, or on the graded ``minicode`` set, with the embedded model, written
to benchmarks/results/public_tests.json (MBPP/HumanEval) or public_tests_minicode.json.

    NLRL_THREADS=1 python benchmarks/public_tests.py --mbpp 45 --humaneval 15 --max-wall-s 1740
    NLRL_THREADS=1 python benchmarks/public_tests.py --mbpp 0 --humaneval 0 --minicode 20 --n 8

``--minicode K`` takes the first K tasks of each level of the ``minicode`` split ``--split``
(``nlrl.bench.minicode``: two tests shown in the prompt, four hidden), levels in turn (L1-0,
L2-0, ..., L6-0, L1-1, ...), so a run stopped by ``--max-wall-s`` stays balanced over levels;
its samples are cached in ``minicode_cache.jsonl`` and the results also break down by level.

Problems: the first ``--mbpp`` records of MBPP (sanitized, file order) and the first
``--humaneval`` of HumanEval, taken in blocks (MBPP 0-2, HumanEval 0, MBPP 3-5, HumanEval 1, ...:
an MBPP problem costs about a third of a HumanEval one) until the counts are reached or ``--max-wall-s`` has passed (then the problems finished so far are reported,
and the file says so). For each problem ``n`` programs are sampled once with nlrl's coding prompt
(T = ``--temperature``, seed 0: sample i seeded i, stopped at the closing fence); every
configuration replays those same samples from a disk cache (``public_tests_cache.jsonl``, keyed
by the request and each sample's own seed), so they are compared at equal samples:

  * ``sample@1``: the first sample alone (what one sample at this temperature gets);
  * ``self-consistency@n``: the plain vote over all n programs (programs grouped by syntax tree);
  * ``best-of-n@n``: the program with the highest mean token log-probability (``logprob`` reward);
  * ``public-tests@n``: the programs that pass the most of the tests shown in the prompt, voted
    on (fallback: the plain vote, when the prompt shows no test or no program passes one).

Every sample is graded with the benchmark's hidden tests (nlrl's code verifier, in the sandbox)
after selection; the selection itself never sees them. ``pass@1`` is the mean over all n samples
(the unbiased estimate), ``pass@n`` whether any sample is right (an upper bound for selection).
Accuracies carry 95% Wilson intervals; differences 95% paired bootstrap intervals over problems.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nlrl.bench.datasets import load_dataset  # noqa: E402
from nlrl.bench.metrics import bootstrap_interval, wilson_interval  # noqa: E402
from nlrl.bench.minicode import LEVELS as MINICODE_LEVELS, generate as minicode  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402
from nlrl.verifiers.code import CodeVerifier  # noqa: E402
from nlrl.verifiers.sandbox import sandbox_info  # noqa: E402
from strategies import CachedBackend, make_reward, run_record, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SEED = 0
LABELS = ("sample@1", "self-consistency@n", "best-of-n@n", "public-tests@n")
PAIRS = (("public-tests@n", "self-consistency@n"), ("public-tests@n", "best-of-n@n"),
         ("public-tests@n", "sample@1"), ("self-consistency@n", "sample@1"))


def _acc(flags: list[bool]) -> dict[str, Any]:
    k, n = sum(flags), len(flags)
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)
    return {"correct": k, "n": n, "accuracy": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def _paired(a: list[float], b: list[float]) -> dict[str, Any]:
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    if not diffs:
        return {"n": 0}
    lo, hi = bootstrap_interval(diffs, iterations=10000, seed=0)
    return {"difference": round(sum(diffs) / len(diffs), 4), "ci95_paired_bootstrap": [round(lo, 4), round(hi, 4)],
            "wins": sum(1 for d in diffs if d > 0), "losses": sum(1 for d in diffs if d < 0), "n": len(diffs),
            "excludes_0": lo > 0 or hi < 0}


def solve(rec: Any, backend: CachedBackend, reward: Any, args: argparse.Namespace, verifier: CodeVerifier) -> dict:
    """One problem: every configuration on the same n samples, each sample graded once."""
    task = Task.build(rec.prompt, domain="coding")  # the question only: no reference
    budget = Budget(n=args.n, max_tokens=args.max_tokens, temperature=args.temperature, seed=SEED)
    hook = lambda: GistStream("coding", adaptive=True)  # noqa: E731
    pt = get_strategy("public-tests")(task, backend, budget=budget, on_token=hook())
    sc = get_strategy("self-consistency")(task, backend, budget=budget, on_token=hook())
    bon = get_strategy("best-of-n")(task, backend, reward=reward, budget=budget, on_token=hook())
    one = get_strategy("self-consistency")(task, backend, budget=Budget(n=1, max_tokens=args.max_tokens,
                                                                        temperature=args.temperature, seed=SEED),
                                           on_token=hook())
    texts = [e.text for e in pt.trace if e.kind == "sample"]
    verdicts = verifier.check_many([(t, rec.reference) for t in texts])
    right = {t: v.correct for t, v in zip(texts, verdicts)}
    ev = {e.kind: e for e in pt.trace}
    runs = [e.data for e in pt.trace if e.kind == "public_test_run"]
    return {
        "id": rec.id, "dataset": rec.dataset, "samples": len(texts),
        "sample_correct": [right[t] for t in texts],
        "correct": {"sample@1": right.get(one.output, False), "self-consistency@n": right.get(sc.output, False),
                    "best-of-n@n": right.get(bon.output, False), "public-tests@n": right.get(pt.output, False)},
        "public_tests": {"style": ev["public_tests"].text, "counted": ev["public_tests"].data["counted"],
                         "over": pt.extra.get("over"), "fallback": pt.extra.get("fallback"),
                         "kept": pt.extra.get("kept"), "scores": [r["score"] for r in runs],
                         "passers_correct": [right[texts[i]] for i, r in enumerate(runs)
                                             if r["score"] == max(x["score"] for x in runs) and r["score"] > 0]},
        "tokens": pt.usage.completion_tokens,
    }


def summarize(rows: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {"problems": len(rows), "configs": {}, "comparisons": []}
    for label in LABELS:
        out["configs"][label] = _acc([r["correct"][label] for r in rows])
    pass1 = [sum(r["sample_correct"]) / max(1, len(r["sample_correct"])) for r in rows]
    lo, hi = bootstrap_interval(pass1, iterations=10000, seed=0) if rows else (0.0, 1.0)
    out["configs"]["pass@1 (mean over samples)"] = {"accuracy": round(sum(pass1) / max(1, len(rows)), 4),
                                                    "ci95_bootstrap": [round(lo, 4), round(hi, 4)]}
    out["configs"]["pass@n (oracle)"] = _acc([any(r["sample_correct"]) for r in rows])
    for a, b in PAIRS:
        out["comparisons"].append({"a": a, "b": b, **_paired([r["correct"][a] for r in rows],
                                                              [r["correct"][b] for r in rows])})
    pts = [r["public_tests"] for r in rows]
    out["filtering"] = {
        "prompts_with_tests": sum(p["counted"] > 0 for p in pts),
        "styles": {s: sum(p["style"] == s for p in pts) for s in sorted({p["style"] for p in pts})},
        "filtered": sum(p["over"] == "passing" for p in pts),
        "fallback_no_test": sum(p["fallback"] == "the prompt shows no test" for p in pts),
        "fallback_none_passed": sum(p["fallback"] == "no program passed a public test" for p in pts),
        "kept_programs": sum(p["kept"] or 0 for p in pts),
        "kept_programs_correct": sum(sum(p["passers_correct"]) for p in pts),
        "tokens_per_problem": round(sum(r["tokens"] for r in rows) / max(1, len(rows)), 1),
    }
    return out


def minicode_order(split: str, per_level: int, levels: tuple[int, ...] = MINICODE_LEVELS) -> list[Any]:
    """The first ``per_level`` tasks of each of ``levels`` of a minicode split, levels in turn."""
    ds = list(minicode(split, per_level=per_level, levels=levels))
    return [r for i in range(per_level) for r in ds if r.id.endswith(f"-{i}")]


def by_level(rows: list[dict]) -> dict[str, Any]:
    """:func:`summarize` per minicode level (a row's id starts ``L<level>-``)."""
    out = {}
    for lv in MINICODE_LEVELS:
        mine = [r for r in rows if r["id"].startswith(f"L{lv}-")]
        if mine:
            out[str(lv)] = summarize(mine)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mbpp", type=int, default=30)
    ap.add_argument("--humaneval", type=int, default=10)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--max-wall-s", type=float, default=1800.0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--minicode", type=int, default=0, help="tasks per level of the graded coding set")
    ap.add_argument("--split", default="test", choices=("train", "dev", "test"), help="minicode split")
    ap.add_argument("--levels", default=",".join(map(str, MINICODE_LEVELS)), help="minicode levels")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = RESULTS / ("public_tests_minicode.json" if args.minicode else "public_tests.json")

    def make_inner():
        from nlrl.backends import load_backend

        return load_backend("embedded", n_ctx=4096, n_threads=args.threads)

    cache = "minicode_cache.jsonl" if args.minicode else "public_tests_cache.jsonl"
    backend = CachedBackend(RESULTS / cache, make_inner, domain="coding")
    reward = make_reward("logprob", backend)
    verifier = CodeVerifier(timeout_s=10.0)
    sets = {"mbpp": list(load_dataset("mbpp"))[: args.mbpp], "humaneval": list(load_dataset("humaneval"))[: args.humaneval]}
    # MBPP problems are about a third as long to sample: three of them, then one HumanEval
    mb, he = iter(sets["mbpp"]), iter(sets["humaneval"])
    order = []
    while len(order) < len(sets["mbpp"]) + len(sets["humaneval"]):
        order += [r for r in (next(mb, None), next(mb, None), next(mb, None), next(he, None)) if r is not None]
    if args.minicode:
        graded = minicode_order(args.split, args.minicode, tuple(int(x) for x in args.levels.split(",")))
        sets[graded[0].dataset] = graded
        order += graded
    rows: list[dict] = []
    start = time.perf_counter()
    stopped = None
    for rec in order:
        if time.perf_counter() - start > args.max_wall_s:
            stopped = f"--max-wall-s {args.max_wall_s:.0f} reached after {len(rows)} of {len(order)} problems"
            break
        t = time.perf_counter()
        row = solve(rec, backend, reward, args, verifier)
        rows.append(row)
        c = row["correct"]
        print(f"{rec.dataset} {rec.id}: " + " ".join(f"{k}={int(v)}" for k, v in c.items())
              + f" samples_right={sum(row['sample_correct'])}/{row['samples']} pt={row['public_tests']['over']}"
              f" {time.perf_counter() - t:.0f}s", flush=True)
    result = {
        "benchmark": "public-test filtering vs plain self-consistency / best-of-N at equal samples ("
                     + ", ".join(name for name, recs in sets.items() if recs) + ")",
        "command": (f"NLRL_THREADS={args.threads} python benchmarks/public_tests.py --mbpp {args.mbpp} "
                    f"--humaneval {args.humaneval} --n {args.n} --temperature {args.temperature} "
                    f"--max-tokens {args.max_tokens} --max-wall-s {args.max_wall_s:.0f}"
                    + (f" --minicode {args.minicode} --split {args.split} --levels {args.levels}" if args.minicode else "")),
        "model": "gemma-3-270m (base, q4_k_m, llama.cpp)", "n": args.n, "temperature": args.temperature,
        "max_tokens": args.max_tokens, "seed": SEED, "sandbox": sandbox_info(),
        "stopped_early": stopped,
        "all": summarize(rows),
        "by_dataset": {name: summarize([r for r in rows if r["dataset"] == name]) for name in sets},
        **({"by_level": by_level(rows)} if args.minicode else {}),
        "rows": rows,
        **run_record(backend, cache, args.threads, start),
    }
    write_result(args.out, result, backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
