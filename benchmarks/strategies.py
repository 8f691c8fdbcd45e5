"""Accuracy vs generated tokens for every reasoning strategy, on real problems, with the embedded
model (or any backend), written to benchmarks/results/strategies.json and strategies.png.

    python benchmarks/strategies.py                      # CommonsenseQA, 40 problems, cached
    python benchmarks/strategies.py --dataset math-l1    # MATH level-1 items instead
    python benchmarks/strategies.py --only "sc@T0.8"     # one family

Problems (chosen before looking at any model output, by a fixed rule):
  * math-l1: MATH test set (hendrycks), Level 1, problem text <= 90 characters, integer answer,
    in file order - the shortest, easiest competition items with an unambiguous answer;
  * csqa: CommonsenseQA dev, in file order (5 choices, chance 20%).
The first ``--problems`` are taken and split by position: even -> dev, odd -> test
(``benchmarks/compute_optimal.py`` learns on dev and reports on test).

Compute is saved three ways, all of them honest about cost:
  * every sampled completion is cached on disk (``strategies_cache.jsonl``), keyed by the request
    and the sample's own seed (sample i of a request with seed s is seeded s + i, as the backends
    do), so a rerun replays instead of generating, and its usage is the usage first measured;
  * 16 samples per problem are drawn once at the main temperature (8 at the other); N in
    {1, 2, 4, 8, 16} for self-consistency, best-of-N and adaptive self-consistency are evaluated
    on prefixes of them (the strategies really run, and hit the cache);
  * self-refine, divide-and-conquer and beam search run at fewer N.
Correctness is judged by nlrl.verifiers (math: equivalence by value; csqa: the choice letter).
Accuracies carry 95% Wilson intervals.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl import ConfigError  # noqa: E402
from nlrl.backends import Backend, Completion, Generation, SamplingParams, Usage  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402
from nlrl.verifiers import get_verifier  # noqa: E402
from nlrl.verifiers.math import last_boxed  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SEED = 1234
MAX_TOKENS = 96
NS = (1, 2, 4, 8, 16)
CHANCE = {"csqa": 0.2}


# ---- data -----------------------------------------------------------------------------------

def data_dir() -> Path:
    return Path(os.environ.get("NLRL_DATA_DIR") or ROOT / "src" / "nlrl" / "_data")


@dataclass(frozen=True)
class Problem:
    pid: str
    question: str
    reference: Any
    domain: str
    split: str


def load_problems(dataset: str, count: int) -> list[Problem]:
    rows: list[tuple[str, str, Any]] = []
    if dataset == "math-l1":
        with open(data_dir() / "math" / "test.jsonl", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                ans = last_boxed(r["solution"]) or ""
                if r["level"] == "Level 1" and len(r["problem"]) <= 90 and re.fullmatch(r"-?\d+", ans):
                    rows.append((f"math-{r['idx']}", r["problem"], ans))
        domain = "math"
    elif dataset == "csqa":
        with open(data_dir() / "commonsenseqa" / "dev_rand_split.jsonl", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                q = r["question"]
                text = q["stem"] + "\n" + "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
                rows.append((r["id"], text, r))
        domain = "commonsense"
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; known: math-l1, csqa")
    rows = rows[:count]
    return [Problem(pid, q, ref, domain, "dev" if i % 2 == 0 else "test") for i, (pid, q, ref) in enumerate(rows)]


def is_correct(problem: Problem, answer: str | None) -> bool:
    if answer is None:
        return False
    if problem.domain == "coding":  # the program, graded on the reference's (hidden) tests
        return _code_correct(answer, json.dumps(problem.reference, sort_keys=True))
    checker = get_verifier("math" if problem.domain == "math" else "choice")
    return checker.check(f"Final Answer: {answer}", problem.reference).correct


@functools.lru_cache(maxsize=None)
def _code_correct(program: str, reference: str) -> bool:
    # Memoised: a table search grades the same program many times; its verdict cannot change.
    return get_verifier("code").check(program, json.loads(reference)).correct


# ---- a disk cache of seeded samples ---------------------------------------------------------

class CachedBackend(Backend):
    """Replays completions recorded on disk; generates (and records) only what is missing.

    A completion is keyed by the request and its own seed, so sample i of ``n`` with seed ``s``
    is the same completion as sample 0 of a request with seed ``s + i``: N samples are a prefix
    of 2N. Unseeded sampling is refused (it could not be replayed faithfully). The inner model
    is loaded on the first miss only, so a fully cached rerun never loads it.
    """

    name = "cached"

    def __init__(self, path: Path, make_inner: Callable[[], Backend], *, domain: str) -> None:
        self.path = path
        self._make_inner = make_inner
        self._inner: Backend | None = None
        self.domain = domain
        self.hits = self.misses = 0
        self.generated_wall = 0.0
        self._cache: dict[str, dict[str, Any]] = {}
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        rec = json.loads(line)
                        self._cache[rec["key"]] = rec

    @property
    def inner(self) -> Backend:
        if self._inner is None:
            self._inner = self._make_inner()
        return self._inner

    @property
    def supports_logprobs(self) -> bool:
        return True

    @property
    def model_name(self) -> str:
        return "gemma-3-270m-q4_k_m (cached)"

    def count_tokens(self, text: str) -> int | None:
        return self.inner.count_tokens(text)

    @property
    def supports_embeddings(self) -> bool:
        return True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed(texts)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def _key(self, prompt: str, params: SamplingParams, i: int, adaptive: bool) -> str:
        greedy = params.temperature == 0.0
        if not greedy and params.seed is None:
            raise ConfigError("benchmark sampling must be seeded to be cached")
        # Log-probabilities do not change what is sampled: they are always recorded, not keyed.
        spec = [prompt, params.temperature, params.top_p, params.top_k, params.max_tokens,
                list(params.stop), params.repetition_penalty,
                "greedy" if greedy else params.seed_for(i), adaptive]
        return hashlib.sha1(json.dumps(spec).encode()).hexdigest()

    def generate(self, prompts: Sequence[str], params: SamplingParams, *, on_token: Any = None) -> list[Generation]:
        adaptive = on_token is not None
        out = []
        for prompt in prompts:
            keys = [self._key(prompt, params, i, adaptive) for i in range(params.n)]
            missing = [i for i, k in enumerate(keys) if k not in self._cache]
            if params.temperature == 0.0:
                missing = missing[:1]
            for start, count in _runs(missing):
                self._fill(prompt, params, keys, start, count, adaptive)
            self.hits += params.n - len(missing)
            recs = [self._cache[k] for k in keys]
            comps = tuple(Completion(i, r["text"], tuple(r["token_ids"]),
                                     tuple(r["logprobs"]) if params.logprobs and r.get("logprobs") is not None else None,
                                     r["finish_reason"]) for i, r in enumerate(recs))
            usage = Usage(prompt_tokens=round(sum(r["prompt_tokens"] for r in recs)),
                          completion_tokens=sum(len(r["token_ids"]) for r in recs), calls=1,
                          wall_s=sum(r["wall_s"] for r in recs))
            out.append(Generation(prompt, comps, usage))
        return out

    def _fill(self, prompt: str, params: SamplingParams, keys: list[str], start: int, count: int,
              adaptive: bool) -> None:
        seed = None if params.seed is None else params.seed + start
        hook = GistStream(self.domain, adaptive=True) if adaptive else None
        t = time.perf_counter()
        gen = self.inner.generate([prompt], params.replace(n=count, seed=seed, logprobs=True), on_token=hook)[0]
        self.generated_wall += time.perf_counter() - t
        self.misses += count
        with open(self.path, "a", encoding="utf-8") as fh:
            for j, c in enumerate(gen.completions):
                rec = {"key": keys[start + j], "text": c.text, "token_ids": list(c.token_ids),
                       "logprobs": None if c.logprobs is None else [round(x, 5) for x in c.logprobs],
                       "finish_reason": c.finish_reason,
                       "prompt_tokens": gen.usage.prompt_tokens / count, "wall_s": gen.usage.wall_s / count}
                self._cache[rec["key"]] = rec
                fh.write(json.dumps(rec) + "\n")


def run_record(backend: CachedBackend, cache: str, threads: int | None, start: float) -> dict[str, Any]:
    """What a benchmark replaying ``backend`` records about its invocation: the cache, how much
    of it was new, the wall times (``start`` from ``time.perf_counter``) and the machine."""
    return {
        "cache": cache, "cache_hits": backend.hits, "new_samples": backend.misses,
        "generation_wall_s_this_run": round(backend.generated_wall, 1),
        "wall_s_this_run": round(time.perf_counter() - start, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": threads,
                    "note": "2 cores shared with other model processes"},
    }


def write_result(path: Path, result: dict[str, Any], backend: Backend) -> None:
    """Write a benchmark's results file and release its backend."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    backend.close()
    print(f"wrote {path}")


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted indices as (start, length)."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


# ---- configurations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    label: str
    family: str
    strategy: str
    n: int
    temperature: float | None
    options: tuple[tuple[str, Any], ...] = ()
    reward: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "family": self.family, "strategy": self.strategy, "n": self.n,
                "temperature": self.temperature, "options": dict(self.options), "reward": self.reward}


def configs(temps: Sequence[float], main_t: float, reward: str | None) -> list[Config]:
    out = [Config("cot greedy", "cot greedy", "cot", 1, 0.0)]
    for t in sorted(temps, key=lambda t: t != main_t):  # the main temperature's draws first
        # other temperatures are compared up to N=8 (half the samples: CPU time)
        out += [Config(f"sc@T{t}@{n}", f"self-consistency T={t}", "self-consistency", n, t)
                for n in (NS if t == main_t else NS[:-1])]
    out += [Config(f"asc@{n}", f"adaptive-sc T={main_t}", "adaptive-self-consistency", n, main_t)
            for n in NS[1:]]
    if reward:
        out += [Config(f"bon@{n}", f"best-of-n ({reward})", "best-of-n", n, main_t, reward=reward) for n in NS]
        out += [Config(f"wbon@{n}", f"weighted-best-of-n ({reward})", "weighted-best-of-n", n, main_t,
                       reward=reward) for n in NS]
    # The sequential strategies cost many calls each: fewer N, cheapest first.
    refine = lambda n: Config(f"refine@{n}", "self-refine", "self-refine", n, 0.0)  # noqa: E731
    beam = lambda w: Config(f"beam@{w}", "beam (logprob PRM)", "beam", w, main_t, (("expansions", 2),))  # noqa: E731
    out += [refine(1), beam(1), Config("dc@1", "divide-and-conquer", "divide-and-conquer", 1, 0.0),
            refine(2), beam(2), beam(4),
            Config("dc@2", "divide-and-conquer", "divide-and-conquer", 2, main_t)]
    return out


def make_reward(name: str | None, backend: Backend) -> Any:
    if name is None:
        return None
    from nlrl.rewards import REWARDS

    return REWARDS.create(name, backend=backend)


def run_config(cfg: Config, problems: Sequence[Problem], backend: CachedBackend, reward: Any) -> list[dict]:
    rows = []
    for p in problems:
        task = Task.build(p.question, domain=p.domain)
        strategy = get_strategy(cfg.strategy, **dict(cfg.options))
        budget = Budget(n=cfg.n, max_tokens=MAX_TOKENS, temperature=cfg.temperature, seed=SEED)
        hook = GistStream(p.domain, adaptive=True)
        res = strategy(task, backend, reward=reward if cfg.reward else None, budget=budget, on_token=hook)
        rows.append({"pid": p.pid, "split": p.split, "answer": res.answer, "correct": is_correct(p, res.answer),
                     "tokens": res.usage.completion_tokens, "prompt_tokens": res.usage.prompt_tokens,
                     "calls": res.usage.calls, "wall_s": round(res.usage.wall_s, 3),
                     **({"samples": res.extra["samples"]} if "samples" in res.extra else {})})
    return rows


def oracle_rows(problems: Sequence[Problem], backend: CachedBackend, t: float, n: int) -> list[dict]:
    """pass@n: is any of the first n samples right? An upper bound no selection rule can beat."""
    rows = []
    for p in problems:
        task = Task.build(p.question, domain=p.domain)
        params = SamplingParams(n=n, temperature=t, max_tokens=MAX_TOKENS, stop=task.stop, seed=SEED)
        gen = backend.generate([task.prompt_text], params, on_token=GistStream(p.domain))[0]
        ok = any(is_correct(p, task.extract(c.text)) for c in gen.completions)
        rows.append({"pid": p.pid, "split": p.split, "correct": ok, "tokens": gen.usage.completion_tokens})
    return rows


# ---- statistics --------------------------------------------------------------------------------

def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def summarize(rows: Sequence[dict]) -> dict[str, Any]:
    n = len(rows)
    k = sum(r["correct"] for r in rows)
    lo, hi = wilson(k, n)
    mean = lambda key: round(sum(r.get(key, 0) for r in rows) / n, 2) if n else 0.0  # noqa: E731
    return {"problems": n, "correct": k, "accuracy": round(k / n, 4) if n else 0.0,
            "ci95": [round(lo, 4), round(hi, 4)], "tokens": mean("tokens"),
            "prompt_tokens": mean("prompt_tokens"), "calls": mean("calls"), "wall_s": mean("wall_s")}


def paired_bootstrap(a: Sequence[int], b: Sequence[int], reps: int = 10000, seed: int = 0) -> list[float]:
    """95% interval of mean(a) - mean(b) over problems resampled with replacement."""
    import random

    rng = random.Random(seed)
    n = len(a)
    diffs = sorted(sum(a[i] - b[i] for i in (rng.randrange(n) for _ in range(n))) / n for _ in range(reps))
    return [round(diffs[int(0.025 * reps)], 4), round(diffs[int(0.975 * reps) - 1], 4)]


#: Paired comparisons reported (same problems): temperature, N, selection rule.
COMPARISONS = [("sc@T0.4@1", "sc@T0.8@1"), ("cot greedy", "sc@T0.8@1"), ("sc@T0.8@16", "sc@T0.8@1"),
               ("sc@T0.4@8", "sc@T0.4@1"), ("sc@T0.8@16", "bon@16"), ("wbon@16", "bon@16"),
               ("sc@T0.8@8", "asc@8"), ("refine@1", "cot greedy"), ("dc@1", "cot greedy"),
               ("beam@4", "beam@1"), ("pass@8", "sc@T0.8@8")]


def comparisons(configs: Sequence[dict]) -> list[dict]:
    by = {c["label"]: c for c in configs}
    out = []
    for a, b in COMPARISONS:
        if a in by and b in by:
            ra = {r["pid"]: int(r["correct"]) for r in by[a]["rows"]}
            rb = {r["pid"]: int(r["correct"]) for r in by[b]["rows"]}
            pids = sorted(ra)
            x, y = [ra[p] for p in pids], [rb[p] for p in pids]
            out.append({"a": a, "b": b, "difference": round((sum(x) - sum(y)) / len(pids), 4),
                        "ci95": paired_bootstrap(x, y), "a_only": sum(1 for i, j in zip(x, y) if i > j),
                        "b_only": sum(1 for i, j in zip(x, y) if j > i)})
    return out


# ---- plot ----------------------------------------------------------------------------------------

def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    fams: dict[str, list[dict]] = {}
    for c in results["configs"]:
        fams.setdefault(c["family"], []).append(c)
    for fam, cs in fams.items():
        cs = sorted(cs, key=lambda c: c["all"]["tokens"])
        xs = [max(c["all"]["tokens"], 1) for c in cs]
        ys = [c["all"]["accuracy"] for c in cs]
        style = "--" if fam.startswith("oracle") else "-"
        ax.plot(xs, ys, style, marker="o", label=fam)
        for c, x, y in zip(cs, xs, ys):
            ax.annotate(str(c["n"]), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if CHANCE.get(results["meta"]["dataset"]):
        ax.axhline(CHANCE[results["meta"]["dataset"]], ls=":", color="grey", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per problem (mean, log scale)")
    ax.set_ylabel("accuracy")
    meta = results["meta"]
    ax.set_title(f"{meta['dataset']} ({meta['problems']} problems), {meta['model']}\n"
                 f"numbers = N; 95% CI half-width ~ {meta['ci_halfwidth_at_30pct']:.2f} at 30% accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ---- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="csqa", choices=["math-l1", "csqa"])
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--temps", default="0.4,0.8", help="sampling temperatures for self-consistency")
    ap.add_argument("--reward", default="logprob", help="reward for best-of-N (a REWARDS name; 'none' skips)")
    ap.add_argument("--only", default=None, help="regex: run only configs whose label matches")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    temps = [float(t) for t in args.temps.split(",")]
    main_t = temps[-1]
    problems = load_problems(args.dataset, args.problems)
    suffix = "" if args.dataset == "csqa" else f"_{args.dataset}"
    cache_path = RESULTS / f"strategies_cache{suffix}.jsonl"

    def make_inner() -> Backend:
        from nlrl.backends import load_backend

        opts = {"n_ctx": 4096}
        if args.threads:
            opts["n_threads"] = args.threads
        return load_backend("embedded", **opts)

    backend = CachedBackend(cache_path, make_inner, domain=problems[0].domain)
    reward_name = None if args.reward == "none" else args.reward
    reward = make_reward(reward_name, backend) if reward_name else None
    out_path = RESULTS / f"strategies{suffix}.json"
    previous = json.loads(out_path.read_text()) if out_path.exists() else {}
    done = {c["label"]: c for c in previous.get("configs", [])} if previous.get("meta", {}).get("problems") == len(problems) else {}
    results: dict[str, Any] = {"meta": {}, "configs": []}
    start = time.perf_counter()
    cfgs = configs(temps, main_t, reward_name)
    # Draw each problem's samples in one batched call per temperature (the strategies below then
    # replay prefixes of them); the same call gives the oracle pass@N rows.
    oracle = {}
    for t in sorted(temps, key=lambda t: t != main_t):
        top = NS[-1] if t == main_t else NS[-2]
        if args.only and not any(re.search(args.only, c.label) for c in cfgs if c.temperature == t):
            continue
        tt = time.perf_counter()
        oracle[t] = {n: oracle_rows(problems, backend, t, n) for n in sorted(NS, reverse=True) if n <= top}
        print(f"drew {top} samples at T={t}: {backend.misses} new in all, {time.perf_counter() - tt:.0f}s", flush=True)
    for cfg in cfgs:
        if args.only and not re.search(args.only, cfg.label):
            if cfg.label in done:
                results["configs"].append(done[cfg.label])
            continue
        t = time.perf_counter()
        misses = backend.misses
        rows = run_config(cfg, problems, backend, reward)
        entry = {**cfg.to_dict(), "all": summarize(rows),
                 "dev": summarize([r for r in rows if r["split"] == "dev"]),
                 "test": summarize([r for r in rows if r["split"] == "test"]), "rows": rows}
        results["configs"].append(entry)
        print(f"{cfg.label:>14}: acc {entry['all']['accuracy']:.3f} {entry['all']['ci95']}  "
              f"tokens {entry['all']['tokens']:7.1f}  new samples {backend.misses - misses:4d}  "
              f"{time.perf_counter() - t:6.1f}s", flush=True)
    for n in NS:
        rows = oracle[main_t][n] if main_t in oracle else oracle_rows(problems, backend, main_t, n)
        results["configs"].append({"label": f"pass@{n}", "family": f"oracle pass@N T={main_t} (upper bound)",
                                   "strategy": "oracle", "n": n, "temperature": main_t, "options": {},
                                   "reward": "verifier", "all": summarize(rows),
                                   "dev": summarize([r for r in rows if r["split"] == "dev"]),
                                   "test": summarize([r for r in rows if r["split"] == "test"]), "rows": rows})
    results["comparisons"] = comparisons(results["configs"])
    for c in results["comparisons"]:
        print(f"{c['a']:>11} - {c['b']:<11} {c['difference']:+.3f}  95% CI {c['ci95']}", flush=True)
    results["meta"] = {
        "dataset": args.dataset, "problems": len(problems), "model": "gemma-3-270m (base, q4_k_m, llama.cpp)",
        "selection": "chosen " + __doc__.split("Problems (chosen ")[1].split("Compute is saved")[0].strip(),
        "seed": SEED, "max_tokens": MAX_TOKENS, "temperatures": temps, "reward": reward_name,
        "prefix_evaluation": "N in {1,2,4,8,16} for sampling strategies are prefixes of one 16-sample draw",
        "cache": cache_path.name, "cache_hits": backend.hits, "new_samples": backend.misses,
        "generation_wall_s_this_run": round(backend.generated_wall, 1),
        "wall_s_this_run": round(time.perf_counter() - start, 1),
        "ci_halfwidth_at_30pct": round(1.96 * math.sqrt(0.3 * 0.7 / len(problems)), 3),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, shared",
        "usage_note": "tokens = generated tokens per problem (mean), as first measured when generated",
    }
    out_path.write_text(json.dumps(results, indent=1))
    plot(results, RESULTS / f"strategies{suffix}.png")
    backend.close()
    print(f"wrote {out_path} ({time.perf_counter() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
