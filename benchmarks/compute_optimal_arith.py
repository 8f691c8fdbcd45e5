"""Compute-optimal test-time scaling and a learned verifier on the graded ``arith`` benchmark.

    NLRL_THREADS=1 python benchmarks/compute_optimal.py --dataset arith [--per-level 20,8,8] [--levels 1-6]

(``benchmarks/compute_optimal.py --dataset arith`` runs this module.) Steps, all with the
embedded model, every sampled completion cached on disk (``compute_optimal_arith_cache.jsonl``,
keyed by request and seed: a rerun replays instead of generating):

1. **Learned verifier.** ``nlrl bench``'s runner runs best-of-8 (log-prob reward, so the samples
   carry their log-probabilities) on the *train* split; ``nlrl.rewards.learned.train`` grades
   every sample and fits the logistic regression on cheap features, with and without the model's
   embeddings, keeping the better by cross-validated AUC (what ``nlrl train-reward RUN_DIR --out
   reward.npz`` does); the variant forced to use the embeddings is kept as an ablation, measured
   on the first ``--ablation-per-level`` test questions of each level only (it is no candidate
   for the table: the packaged table cannot ship a per-model verifier file, and its embeddings
   cost a forward pass per sample, about as much as sampling the answer).
2. **Fixed strategies** on dev and test: greedy CoT, greedy program-aided, self-consistency
   (N = 1..16), program-aided voting over N = 2, 4, 8 sampled programs, best-of-N with the
   log-prob reward (N = 4, 8, 16) and with the learned one (plain N = 2, 4, 8; weighted N = 8);
   N-sample strategies run on prefixes of one set of 16 seeded samples (T = 0.7; programs: one
   set of 8), each drawn in one batched call (the largest N runs first, so smaller N replay its
   prefixes instead of extending the set 1, 1, 2, 4, 8 samples at a time).
3. **Verifier AUC** on the test split's first 8 samples a question: "this sample is correct"
   scored by the learned verifier, by the mean log-probability, and by agreement.
4. **The table** (``compute_optimal.learn``): per budget B in {1, 2, 4, 8, 16} sample-equivalents
   (B x the mean tokens of one sampled CoT answer on dev), the probe size chosen by leave-one-out
   dev accuracy, then the choice per agreement bin with the most dev questions right within the
   budget; written to the packaged table under the ``math`` domain.
5. **Test**: ``auto`` (the real strategy, loading that table) at each budget vs the fixed
   strategy picked on dev for that budget and the best fixed strategy within auto's tokens (picked
   with hindsight); the budget at which auto reaches self-consistency@16 and its tokens there;
   the batch allocator (``solve_batch``) under one global budget; per level, the strategy picked
   on dev at 16 sample-equivalents vs greedy. 95% intervals: Wilson, and paired bootstrap for
   differences.

Writes benchmarks/results/compute_optimal_arith.json (with a ``goals`` object: each goal of
issue #16 this run decides, met or not, with its figure and interval) and
docs/img/compute_optimal_arith.png. ``meta.cost`` splits the wall time by phase and gives the
recorded generation and embedding seconds of every sample the run uses (a replay's estimate of a
from-scratch run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import compute_optimal as C  # noqa: E402
import strategies as S  # noqa: E402
from nlrl.bench.arith import ABOUT, level_records  # noqa: E402
from nlrl.bench.datasets import Dataset  # noqa: E402
from nlrl.bench.runner import BenchRunner  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.rewards.learned import LearnedReward, LearnedVerifier, roc_auc, train  # noqa: E402
from nlrl.backends import SamplingParams  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.strategies import compute_optimal as co  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402

TEMPERATURE = 0.7
MAX_TOKENS = 48
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # --levels sets it
AUC_SAMPLES = 8
CACHE = S.RESULTS / "compute_optimal_arith_cache.jsonl"
WORK = ROOT / "runs" / "compute_optimal_arith"  # run dirs and the verifier file (not committed)
OUT = S.RESULTS / "compute_optimal_arith.json"
PLOT = ROOT / "docs" / "img" / "compute_optimal_arith.png"


def problems(split: str, per_level: int) -> list[S.Problem]:
    out = []
    for level in LEVELS:
        for r in level_records(split, level, per_level):
            out.append(S.Problem(f"{split}-{r.id}", r.prompt, r.reference, "math", split))
    return out


def level_of(pid: str) -> int:
    return int(pid.split("-")[1][1:])


def candidates(reward_path: Path, embed_path: Path) -> list[tuple[str, co.Choice]]:
    learned = f"learned:{reward_path}"
    t = {"temperature": TEMPERATURE}
    out = [("cot greedy", co.Choice("cot", 1)), ("pal greedy", co.Choice("program-aided", 1))]
    out += [(f"sc@{n}", co.Choice("self-consistency", n, t)) for n in (1, 2, 4, 8, 16)]
    # program-aided with n > 1: sampled programs, a vote over what they print (failures abstain)
    out += [(f"pal@{n}", co.Choice("program-aided", n, t)) for n in (2, 4, 8)]
    out += [(f"bon-logprob@{n}", co.Choice("best-of-n", n, {**t, "reward": "logprob"})) for n in (4, 8, 16)]
    out += [(f"bon-learned@{n}", co.Choice("best-of-n", n, {**t, "reward": learned})) for n in (2, 4, 8)]
    out += [("wbon-learned@8", co.Choice("weighted-best-of-n", 8, {**t, "reward": learned}))]
    return out


def ablations(embed_path: Path) -> list[tuple[str, co.Choice]]:
    """Measured on test only: the verifier forced to read the model's embeddings too."""
    t = {"temperature": TEMPERATURE, "reward": f"learned:{embed_path}"}
    return [("bon-learned-embed@8", co.Choice("best-of-n", 8, t))]


class Backend(S.CachedBackend):
    """The sample cache, plus a disk cache of embeddings (by text) so reruns replay them too."""

    def __init__(self, *args: Any, embed_cache: Path, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.embed_path = embed_cache
        self._emb: dict[str, list[float]] = {}
        self._emb_s: dict[str, float] = {}  # seconds each embedding took when computed
        self.embedded = 0
        self.embed_wall = 0.0
        self.used: set[str] = set()  # cache keys of every sample looked up
        self.embeds_used: set[str] = set()
        if embed_cache.exists():
            with open(embed_cache, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        rec = json.loads(line)
                        self._emb[rec["text"]] = rec["vector"]
                        if "s" in rec:
                            self._emb_s[rec["text"]] = rec["s"]

    def _key(self, *args: Any) -> str:
        key = super()._key(*args)
        self.used.add(key)
        return key

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._emb]
        self.embeds_used.update(texts)
        if todo:
            t0 = time.perf_counter()
            vecs = self.inner.embed(todo)
            each = (time.perf_counter() - t0) / len(todo)
            self.embed_wall += each * len(todo)
            self.embedded += len(todo)
            with open(self.embed_path, "a", encoding="utf-8") as fh:
                for t, v in zip(todo, vecs):
                    self._emb[t] = [round(float(x), 6) for x in v]
                    self._emb_s[t] = round(each, 4)
                    fh.write(json.dumps({"text": t, "vector": self._emb[t], "s": self._emb_s[t]}) + "\n")
        return [self._emb[t] for t in texts]

    def recorded_cost(self) -> dict[str, Any]:
        """What generating every sample and embedding this run used took when it was computed."""
        recs = [self._cache[k] for k in self.used if k in self._cache]
        timed = [t for t in self.embeds_used if t in self._emb_s]
        return {"samples_used": len(recs), "generation_s": round(sum(r["wall_s"] for r in recs), 1),
                "embeddings_used": len(self.embeds_used), "embeddings_timed": len(timed),
                "embedding_s": round(sum(self._emb_s[t] for t in timed), 1)}


def run_fixed(choice: co.Choice, ps: Sequence[S.Problem], backend: Any) -> dict[str, dict]:
    rows = {}
    for p in ps:
        task = Task.build(p.question, domain=p.domain)
        res = get_strategy(choice.strategy, **dict(choice.options))(
            task, backend, budget=Budget(n=choice.n, max_tokens=MAX_TOKENS, seed=S.SEED),
            on_token=GistStream(p.domain, adaptive=True))
        rows[p.pid] = {"pid": p.pid, "level": level_of(p.pid), "correct": S.is_correct(p, res.answer),
                       "tokens": res.usage.completion_tokens}
    return rows


def memoize_sandbox() -> None:
    """Programs are run once per text: the table search re-runs program-aided after every probe
    setting, and the same program prints the same answer (a benchmark-only shortcut)."""
    from nlrl.strategies import program_aided as pa

    real = pa.run_many
    memo: dict[tuple, Any] = {}

    def run_many(programs: Sequence[str], *args: Any, **kw: Any) -> list[Any]:
        todo = [prog for prog in dict.fromkeys(programs) if (prog, repr(args), repr(kw)) not in memo]
        if todo:
            for prog, r in zip(todo, real(todo, *args, **kw)):
                memo[(prog, repr(args), repr(kw))] = r
        return [memo[(prog, repr(args), repr(kw))] for prog in programs]

    pa.run_many = run_many


def train_verifier(train_ps: Sequence[S.Problem], backend: Any, per_level: int) -> tuple[Path, Path, dict]:
    run_dir = WORK / "train-bon8"
    records = [r for level in LEVELS for r in level_records("train", level, per_level)]
    runner = BenchRunner(backend, strategy="best-of-n", n=8, max_tokens=MAX_TOKENS, temperature=TEMPERATURE,
                         seed=S.SEED, reward="logprob", progress=False, plots=False)
    t0 = time.perf_counter()
    runner.run(Dataset("arith-train", records, source="generated"), run_dir)
    t1 = time.perf_counter()
    verifier = train([run_dir], backend)
    path = verifier.save(WORK / "reward.npz")
    forced = train([run_dir], backend, embed=True)
    embed_path = forced.save(WORK / "reward_embed.npz")
    # train_*: the training run's counts (the held-out AUC's own counts sit beside them)
    meta = {(f"train_{k}" if k in ("samples", "positives") else k): v for k, v in verifier.meta.items() if k != "runs"}
    info = {"train_run": os.path.relpath(run_dir, ROOT), "strategy": "best-of-n (logprob reward), n=8",
            "train_questions": len(records), **meta,
            "features": verifier.spec.size, "embedding_dim": verifier.spec.embedding_dim,
            "cheap_features": list(verifier.spec.cheap), "run_s": round(t1 - t0, 1),
            "fit_s": round(time.perf_counter() - t1, 1),
            "embedding_variant": {"C": forced.meta["C"], "cv_auc": forced.meta.get("cv_auc"),
                                  "features": forced.spec.size}}
    print(f"verifier: {info}", flush=True)
    return path, embed_path, info


def ablation_subset(test: Sequence[S.Problem], per_level: int) -> list[S.Problem]:
    """The first ``per_level`` test questions of each level: where the embedding ablation is measured."""
    seen: dict[int, int] = {}
    out = []
    for p in test:
        seen[level_of(p.pid)] = seen.get(level_of(p.pid), 0) + 1
        if seen[level_of(p.pid)] <= per_level:
            out.append(p)
    return out


def verifier_auc(test: Sequence[S.Problem], backend: Any, reward_path: Path, embed_path: Path,
                 subset: Sequence[S.Problem]) -> dict:
    """AUC of "this sample is correct" over the test split's first 8 samples a question (the
    embedding variant: over ``subset`` only, compared with the others on the same samples)."""
    from nlrl.rewards.learned import agreement_shares
    from nlrl.verifiers.math import answers_equivalent

    verifier = LearnedVerifier.load(reward_path)
    embed_v = LearnedVerifier.load(embed_path)
    learned, embedded, logprob, agree, labels, by_level = [], [], [], [], [], {}
    in_subset, sub = [], {q.pid for q in subset}
    for p in test:
        task = Task.build(p.question, domain=p.domain)
        params = SamplingParams(n=AUC_SAMPLES, temperature=TEMPERATURE, max_tokens=MAX_TOKENS, stop=task.stop,
                                seed=S.SEED, logprobs=True)
        gen = backend.generate([task.prompt_text], params, on_token=GistStream(p.domain, adaptive=True))[0]
        reward = LearnedReward(verifier, backend=backend)
        reward.observe(task.question, [(c.text, c.logprobs) for c in gen.completions])
        embed_r = LearnedReward(embed_v, backend=backend, check_model=False) if p.pid in sub else None
        if embed_r is not None:
            embed_r.observe(task.question, [(c.text, c.logprobs) for c in gen.completions])
        answers = [task.extract(c.text) for c in gen.completions]
        shares = agreement_shares(answers, answers_equivalent)
        for c, a, sh in zip(gen.completions, answers, shares):
            y = int(S.is_correct(p, a))
            labels.append(y)
            learned.append(reward.score(task.question, c.text))
            embedded.append(embed_r.score(task.question, c.text) if embed_r is not None else None)
            in_subset.append(embed_r is not None)
            lps = c.logprobs or (0.0,)
            logprob.append(sum(lps) / len(lps))
            agree.append(sh)
            by_level.setdefault(level_of(p.pid), []).append((y, learned[-1], logprob[-1]))
    def keep(xs: Sequence[Any]) -> list[Any]:
        return [x for x, k in zip(xs, in_subset) if k]

    es, ey = keep(embedded), keep(labels)
    out = {"samples": len(labels), "correct_samples": sum(labels), "questions": len(test),
           "auc_learned": _r(roc_auc(learned, labels)), "auc_logprob": _r(roc_auc(logprob, labels)),
           "auc_agreement": _r(roc_auc(agree, labels)),
           "embedding_ablation": {"questions": len(subset), "samples": len(es), "correct_samples": sum(ey),
                                  "auc_learned_with_embeddings": _r(roc_auc(es, ey)),
                                  "auc_learned": _r(roc_auc(keep(learned), ey)),
                                  "auc_logprob": _r(roc_auc(keep(logprob), ey)),
                                  "with_embeddings_minus_logprob_ci95": _auc_diff_ci(es, keep(logprob), ey, len(subset)),
                                  "with_embeddings_minus_learned_ci95": _auc_diff_ci(es, keep(learned), ey, len(subset))},
           "auc_difference_ci95": _auc_diff_ci(learned, logprob, labels, len(test)),
           "by_level": {str(k): {"samples": len(v), "correct": sum(y for y, _, _ in v),
                                 "auc_learned": _r(roc_auc([s for _, s, _ in v], [y for y, _, _ in v])),
                                 "auc_logprob": _r(roc_auc([s for _, _, s in v], [y for y, _, _ in v]))}
                        for k, v in sorted(by_level.items())}}
    print(f"AUC: {out}", flush=True)
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _auc_diff_ci(a: Sequence[float], b: Sequence[float], y: Sequence[int], questions: int,
                 reps: int = 1000) -> list[float] | None:
    """95% interval of AUC(a) - AUC(b), resampling questions (their samples together) with replacement."""
    import random

    rng = random.Random(0)
    k = len(y) // questions
    diffs = []
    for _ in range(reps):
        idx = [q * k + j for q in (rng.randrange(questions) for _ in range(questions)) for j in range(k)]
        ya = [y[i] for i in idx]
        da, db = roc_auc([a[i] for i in idx], ya), roc_auc([b[i] for i in idx], ya)
        if da is not None and db is not None:
            diffs.append(da - db)
    if not diffs:
        return None
    diffs.sort()
    return [round(diffs[int(0.025 * len(diffs))], 4), round(diffs[int(0.975 * len(diffs)) - 1], 4)]


def per_level(rows_a: dict, rows_b: dict, test: Sequence[S.Problem]) -> dict:
    out = {}
    for level in LEVELS:
        pids = [p.pid for p in test if level_of(p.pid) == level]
        a = [int(rows_a[pid]["correct"]) for pid in pids]
        b = [int(rows_b[pid]["correct"]) for pid in pids]
        out[str(level)] = {"about": ABOUT[level], "problems": len(pids), "accuracy": round(sum(a) / len(a), 4),
                           "greedy_accuracy": round(sum(b) / len(b), 4),
                           "difference": round((sum(a) - sum(b)) / len(a), 4),
                           "ci95": S.paired_bootstrap(a, b)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="arith")
    ap.add_argument("--per-level", default="6,4,4", help="test,dev,train questions per level")
    ap.add_argument("--levels", default="1-6", help="levels to run: 1-6, or a list such as 1,2,6")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS") or 1))
    ap.add_argument("--batch-budgets", default="4,16")
    ap.add_argument("--ablation-per-level", type=int, default=4,
                    help="test questions per level on which the embedding-verifier ablation is measured")
    args = ap.parse_args(argv)
    n_test, n_dev, n_train = (int(x) for x in args.per_level.split(","))
    global LEVELS
    LEVELS = parse_levels(args.levels)
    start = time.perf_counter()
    phases: dict[str, float] = {}
    clock = [start]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - clock[0], 1)
        clock[0] = now
    S.MAX_TOKENS = MAX_TOKENS  # compute_optimal's helpers read it
    WORK.mkdir(parents=True, exist_ok=True)
    memoize_sandbox()
    test, dev, train_ps = problems("test", n_test), problems("dev", n_dev), problems("train", n_train)

    def make_inner() -> Any:
        from nlrl.backends import load_backend

        return load_backend("embedded", n_ctx=4096, n_threads=args.threads)

    backend = Backend(CACHE, make_inner, domain="math", embed_cache=WORK / "embeddings.jsonl")
    command = (f"NLRL_THREADS={args.threads} python benchmarks/compute_optimal.py --dataset arith "
               f"--per-level {args.per_level} --levels {args.levels} --batch-budgets {args.batch_budgets} "
               f"--ablation-per-level {args.ablation_per_level}")
    history = WORK / "invocations.jsonl"  # every invocation of a command, finished or not
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def record(finished: bool) -> None:
        with open(history, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"command": command, "started": started, "finished": finished,
                                 "wall_s": round(time.perf_counter() - start, 1), "new_samples": backend.misses,
                                 "generated_s": round(backend.generated_wall, 1),
                                 "new_embeddings": backend.embedded, "phases_s": dict(phases)}) + "\n")

    try:
        rc = _main(args, command, (test, dev, train_ps), n_train, start, phases, lap, backend, history)
    except BaseException:
        record(False)
        raise
    record(True)
    return rc


def _invocations(history: Path, command: str) -> list[dict]:
    if not history.exists():
        return []
    return [r for r in (json.loads(x) for x in history.read_text().splitlines() if x.strip())
            if r.get("command") == command]


def _main(args: argparse.Namespace, command: str, splits: tuple, n_train: int, start: float,
          phases: dict, lap: Any, backend: Any, history: Path) -> int:
    test, dev, train_ps = splits
    n_test, n_dev = len(test) // len(LEVELS), len(dev) // len(LEVELS)

    # 1. the learned verifier, from a benchmark run on the train split
    reward_path, embed_path, vinfo = train_verifier(train_ps, backend, n_train)
    lap("train_verifier")

    # 2. fixed strategies on dev and test (largest n first: one batched call draws a family's samples)
    cands = candidates(reward_path, embed_path)
    subset = ablation_subset(test, args.ablation_per_level)
    fixed: dict[str, dict] = {}
    for label, ch in sorted(cands, key=lambda c: -c[1].n) + ablations(embed_path):
        t0 = time.perf_counter()
        ablation = label not in dict(cands)
        fixed[label] = {"choice": ch.to_dict(), "dev": {} if ablation else run_fixed(ch, dev, backend),
                        "test": run_fixed(ch, subset if ablation else test, backend)}
        d, t = S.summarize(list(fixed[label]["dev"].values())), S.summarize(list(fixed[label]["test"].values()))
        fixed[label]["dev_summary"], fixed[label]["test_summary"] = d, t
        print(f"{label:18s} dev {d['accuracy']:.3f} test {t['accuracy']:.3f} {t['ci95']} tok {t['tokens']:6.1f}"
              f"  ({time.perf_counter() - t0:.0f}s, new samples so far {backend.misses})", flush=True)
    ablated = {label: fixed.pop(label) for label, _ in ablations(embed_path)}
    fixed = {label: fixed[label] for label, _ in cands}  # the candidates' order
    for v in (*fixed.values(), *ablated.values()):
        _portable(v["choice"])
    lap("fixed_strategies")

    # 3. verifier AUC on test samples
    auc = verifier_auc(test, backend, reward_path, embed_path, subset)
    lap("verifier_auc")

    # 4. the table, learned on dev
    unit = fixed["sc@1"]["dev_summary"]["tokens"]
    policies, _ = C.learn(dev, cands, backend, None, [TEMPERATURE], unit)
    data = json.loads(C.TABLE.read_text()) if C.TABLE.exists() else {"version": 1, "domains": {}}
    for pol in policies:  # the learned reward's file is this run's: name it by its role
        for b in pol["bins"]:
            _portable(b["choice"])
        for pts in pol["frontier"].values():
            for c in pts:
                _portable(c)
    data["domains"]["math"] = {
        "learned": True, "dataset": f"arith (dev split, levels {_levels_text()})", "dev_problems": len(dev),
        "model": "gemma-3-270m-q4_k_m.gguf", "unit_tokens": unit,
        "learned_by": "benchmarks/compute_optimal.py --dataset arith",
        "note": "budget n = sample-equivalents; token_budget = n x unit_tokens (mean tokens of one sampled "
                "answer on dev); dev_accuracy is in-sample and optimistic. Choices that need the learned "
                "verifier are replaced by the log-prob reward in the packaged table (the verifier file is "
                "per model and not packaged)",
        "policies": policies}
    lap("learn_table")
    # 5. test: auto with the table as learned (learned verifier included), then package it
    table_here = co.ComputeOptimalTable(_with_reward(data, reward_path, embed_path), "<this run>")
    auto_rows, auto_out = {}, []
    for b in S.NS:
        rows = {}
        for p in test:
            task = Task.build(p.question, domain=p.domain)
            res = co.Auto(table_here)(task, backend, on_token=GistStream(p.domain, adaptive=True),
                                      budget=Budget(n=b, max_tokens=MAX_TOKENS, seed=S.SEED))
            ch = res.extra["chosen"]
            rows[p.pid] = {"pid": p.pid, "level": level_of(p.pid), "correct": S.is_correct(p, res.answer),
                           "tokens": res.usage.completion_tokens, "chosen": f"{ch['strategy']}@{ch['n']}",
                           "bin": ch["bin"]}
        auto_rows[b] = rows
        summ = S.summarize(list(rows.values()))
        a = [int(rows[p.pid]["correct"]) for p in test]
        dev_fits = [lab for lab in fixed if fixed[lab]["dev_summary"]["tokens"] <= b * unit]
        pick = max(dev_fits, key=lambda lab: (fixed[lab]["dev_summary"]["accuracy"], -fixed[lab]["dev_summary"]["tokens"]))
        f = [int(fixed[pick]["test"][p.pid]["correct"]) for p in test]
        within = [lab for lab in fixed if fixed[lab]["test_summary"]["tokens"] <= summ["tokens"]]
        best = max(within, key=lambda lab: (fixed[lab]["test_summary"]["accuracy"],
                                            -fixed[lab]["test_summary"]["tokens"])) if within else None
        entry = {"budget": b, "token_budget": round(b * unit, 1), "test": summ,
                 "chosen": _counts(r["chosen"] for r in rows.values()),
                 "fixed_picked_on_dev": {"vs": pick, "test_accuracy": fixed[pick]["test_summary"]["accuracy"],
                                         "test_tokens": fixed[pick]["test_summary"]["tokens"],
                                         "difference": round(summ["accuracy"] - fixed[pick]["test_summary"]["accuracy"], 4),
                                         "ci95": S.paired_bootstrap(a, f)}}
        if best:
            g = [int(fixed[best]["test"][p.pid]["correct"]) for p in test]
            entry["best_fixed_within_tokens"] = {
                "vs": best, "fixed_accuracy": fixed[best]["test_summary"]["accuracy"],
                "fixed_tokens": fixed[best]["test_summary"]["tokens"],
                "difference": round(summ["accuracy"] - fixed[best]["test_summary"]["accuracy"], 4),
                "ci95": S.paired_bootstrap(a, g)}
        auto_out.append(entry)
        print(f"auto@{b:2d}: {summ['accuracy']:.3f} {summ['ci95']} tok {summ['tokens']:.1f} | dev pick {pick} "
              f"{entry['fixed_picked_on_dev']['difference']:+.3f} {entry['fixed_picked_on_dev']['ci95']}"
              + (f" | best within tokens {best} {entry['best_fixed_within_tokens']['ci95']}" if best else ""),
              flush=True)

    lap("auto")
    # auto's tokens to reach self-consistency@16
    sc16 = fixed["sc@16"]["test_summary"]
    reach = next((e for e in auto_out if e["test"]["accuracy"] >= sc16["accuracy"]), None)
    target = {"self_consistency_16": sc16, "reached_at_budget": reach["budget"] if reach else None}
    if reach:
        a = [int(auto_rows[reach["budget"]][p.pid]["correct"]) for p in test]
        f = [int(fixed["sc@16"]["test"][p.pid]["correct"]) for p in test]
        target.update({"auto_tokens": reach["test"]["tokens"],
                       "token_ratio": round(reach["test"]["tokens"] / max(sc16["tokens"], 1e-9), 4),
                       "difference_ci95": S.paired_bootstrap(a, f)})
    print(f"sc@16 {sc16['accuracy']:.3f} tok {sc16['tokens']}: auto reaches it at {target}", flush=True)

    # selection: the vote vs the log-prob reward vs the learned verifier at 16 samples
    sel = {}
    both = {**fixed, **ablated}
    for lab, base in (("bon-logprob@8", "sc@8"), ("bon-learned@8", "sc@8"), ("wbon-learned@8", "sc@8"),
                      ("bon-learned@8", "bon-logprob@8"), ("wbon-learned@8", "bon-logprob@8"),
                      ("bon-learned-embed@8", "sc@8"), ("bon-learned-embed@8", "bon-logprob@8"),
                      ("bon-logprob@16", "sc@16"), ("pal greedy", "cot greedy"), ("pal@8", "sc@8"),
                      ("pal@8", "pal greedy")):
        pids = [p.pid for p in test if p.pid in both[lab]["test"] and p.pid in both[base]["test"]]
        a = [int(both[lab]["test"][pid]["correct"]) for pid in pids]
        f = [int(both[base]["test"][pid]["correct"]) for pid in pids]
        sel[f"{lab} - {base}"] = {"questions": len(pids), "difference": round((sum(a) - sum(f)) / len(pids), 4),
                                  "ci95": S.paired_bootstrap(a, f)}

    # per level: the fixed strategy picked on dev at 16 sample-equivalents vs greedy
    fits16 = [lab for lab in fixed if fixed[lab]["dev_summary"]["tokens"] <= 16 * unit]
    best16 = max(fits16, key=lambda lab: (fixed[lab]["dev_summary"]["accuracy"], -fixed[lab]["dev_summary"]["tokens"]))
    levels = {"strategy": best16, "vs": "cot greedy",
              "levels": per_level(fixed[best16]["test"], fixed["cot greedy"]["test"], test),
              "sc16_vs_greedy": per_level(fixed["sc@16"]["test"], fixed["cot greedy"]["test"], test)}

    # the batch allocator: the whole test split under one global budget
    batch = []
    for b in (int(x) for x in args.batch_budgets.split(",")):
        total = int(b * unit * len(test))
        tasks = [Task.build(p.question, domain=p.domain) for p in test]
        results = co.solve_batch(tasks, backend, total_tokens=total, max_tokens=MAX_TOKENS, table=table_here,
                                 budget_n=b, seed=S.SEED)
        rows = [{"pid": p.pid, "correct": S.is_correct(p, r.answer), "tokens": r.usage.completion_tokens}
                for p, r in zip(test, results)]
        entry = {"budget": b, "total_tokens": total, "test": S.summarize(rows), "spent": sum(r["tokens"] for r in rows)}
        batch.append(entry)
        print(f"batch@{b}: {entry['test']['accuracy']:.3f} spent {entry['spent']}/{total}", flush=True)
    lap("batch")

    # package the table (learned-verifier choices -> log-prob reward: the .npz is not packaged)
    C.TABLE.write_text(json.dumps(_packaged(data), indent=1))
    co._packaged.cache_clear()

    out = {
        "benchmark": "compute-optimal test-time scaling and a learned verifier on the graded arith set",
        "command": command,
        "goals": goals(fixed, levels, auto_out, target, auc, sel, len(test)),
        "meta": {"model": "gemma-3-270m-q4_k_m.gguf", "levels": list(LEVELS),
                 "per_level": {"test": n_test, "dev": n_dev, "train": n_train},
                 "test": len(test), "dev": len(dev), "train": len(train_ps), "temperature": TEMPERATURE,
                 "max_tokens": MAX_TOKENS, "seed": S.SEED, "unit_tokens": unit, "budgets": list(S.NS),
                 "cache": os.path.relpath(CACHE, ROOT), "new_samples": backend.misses,
                 "generated_s": round(backend.generated_wall, 1), "new_embeddings": backend.embedded,
                 "embedded_s": round(backend.embed_wall, 1), "wall_s": round(time.perf_counter() - start, 1),
                 "cost": {"phases_s": phases, "recorded": backend.recorded_cost(),
                          "earlier_invocations": _invocations(history, command),
                          "note": "phases_s: this invocation's wall time by phase (generation included where it "
                                  "happened); recorded: the generation and embedding seconds every sample and "
                                  "embedding this run reads took when first computed (possibly in an earlier, "
                                  "interrupted invocation of the same command; embeddings computed before their "
                                  "time was recorded are not timed)"},
                 "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads}},
        "verifier": {**vinfo, **auc},
        "selection": sel,
        "best_at_16_vs_greedy": levels,
        "policies": policies,
        "auto": auto_out,
        "self_consistency_16_target": target,
        "batch": batch,
        "fixed": C.fixed_results(fixed, LEVELS),
        "ablations": {lab: {"choice": v["choice"], "test": v["test_summary"],
                            "note": f"the first {args.ablation_per_level} test questions of each level only; "
                                    "not a table candidate"} for lab, v in ablated.items()},
    }
    OUT.write_text(json.dumps(out, indent=1))
    plot(out, PLOT)
    backend.close()
    print(f"wrote {OUT} and {PLOT} in {out['meta']['wall_s']} s", flush=True)
    return 0


def parse_levels(text: str) -> tuple[int, ...]:
    """``1-6`` or ``1,2,6``: the arith levels to run (a bad value is a one-line error)."""
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-"))
            out = tuple(range(lo, hi + 1))
        else:
            out = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SystemExit(f"--levels must look like 1-6 or 1,2,6, got {text!r}") from None
    bad = [x for x in out if x not in ABOUT]
    if not out or bad:
        raise SystemExit(f"--levels: arith levels are {min(ABOUT)}-{max(ABOUT)}, got {text!r}")
    return out


def _levels_text(levels: Sequence[int] | None = None) -> str:
    ls = sorted(levels or LEVELS)
    return f"{ls[0]}-{ls[-1]}" if ls == list(range(ls[0], ls[-1] + 1)) else ",".join(map(str, ls))


def goals(fixed: dict, levels: dict, auto_out: list, target: dict, auc: dict, sel: dict, n_test: int) -> dict:
    """Each goal of issue #16 this file decides: met or not, with the figure and its interval."""
    mid = {k: v for k, v in levels["levels"].items() if 0.10 <= v["greedy_accuracy"] <= 0.70}
    out: dict[str, Any] = {"test_problems": {"goal": "hundreds of problems, informative intervals",
                                             "value": n_test, "met": n_test >= 100}}
    out["best_at_16_beats_greedy_mid_levels"] = {
        "goal": "at levels where cot greedy is 10-70%, the strategy picked on dev at 16 sample-equivalents "
                "beats cot greedy, paired 95% interval excluding 0",
        "strategy": levels["strategy"], "levels": {k: {"greedy": v["greedy_accuracy"], "best": v["accuracy"],
                                                       "difference": v["difference"], "ci95": v["ci95"]}
                                                   for k, v in mid.items()},
        "met": bool(mid) and all(v["ci95"][0] > 0 for v in mid.values())}
    out["auto_at_least_best_fixed"] = C.auto_goal(auto_out)
    out["auto_reaches_sc16_at_quarter_tokens"] = {
        "goal": "auto reaches self-consistency@16's test accuracy with <= 25% of its tokens",
        "sc16_accuracy": target["self_consistency_16"]["accuracy"], "reached_at_budget": target["reached_at_budget"],
        "token_ratio": target.get("token_ratio"), "difference_ci95": target.get("difference_ci95"),
        "met": target.get("token_ratio") is not None and target["token_ratio"] <= 0.25}
    for key, (a, b) in {"program_aided_beats_cot": ("pal greedy", "cot greedy"),
                        "program_aided_8_beats_self_consistency_8": ("pal@8", "sc@8")}.items():
        d = sel[f"{a} - {b}"]
        out[key] = {"goal": f"program-aided beats its plain counterpart at equal samples ({a} vs {b})",
                    a: fixed[a]["test_summary"]["accuracy"], b: fixed[b]["test_summary"]["accuracy"],
                    "difference": d["difference"], "ci95": d["ci95"], "met": d["ci95"][0] > 0}
    out["learned_verifier_auc_beats_logprob"] = {
        "goal": "the learned verifier's held-out AUC for 'this sample is correct' beats the log-prob reward's",
        "auc_learned": auc["auc_learned"], "auc_logprob": auc["auc_logprob"],
        "difference_ci95": auc["auc_difference_ci95"],
        "met": auc["auc_difference_ci95"] is not None and auc["auc_difference_ci95"][0] > 0}
    return out


def _counts(xs: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _portable(choice: dict) -> None:
    r = (choice.get("options") or {}).get("reward")
    if isinstance(r, str) and r.startswith("learned:"):
        choice["options"]["reward"] = "learned:<verifier-embed>" if r.endswith("_embed.npz") else "learned:<verifier>"


def _with_reward(data: dict, path: Path, embed_path: Path) -> dict:
    text = json.dumps(data).replace("learned:<verifier>", f"learned:{path}")
    return json.loads(text.replace("learned:<verifier-embed>", f"learned:{embed_path}"))


def _packaged(data: dict) -> dict:
    text = json.dumps(data).replace('"learned:<verifier>"', '"logprob"')
    return json.loads(text.replace('"learned:<verifier-embed>"', '"logprob"'))


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5))
    fams: dict[str, list] = {}
    for lab, v in out["fixed"].items():
        fams.setdefault(lab.split("@")[0], []).append(v["test"])
    for fam, pts in fams.items():
        pts = sorted(pts, key=lambda t: t["tokens"])
        ax.plot([max(t["tokens"], 1) for t in pts], [t["accuracy"] for t in pts], "-", marker=".", alpha=0.6, label=fam)
    C.draw_auto(ax, out)
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per question, test split (mean, log scale)")
    ax.set_ylabel("test accuracy")
    m = out["meta"]
    ax.set_title(f"arith levels {_levels_text(m['levels'])}, {m['test']} test questions (95% Wilson intervals)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower right")
    lv = out["best_at_16_vs_greedy"]
    levels = sorted(lv["levels"], key=int)
    g = [lv["levels"][k]["greedy_accuracy"] for k in levels]
    b = [lv["levels"][k]["accuracy"] for k in levels]
    s = [lv["sc16_vs_greedy"][k]["accuracy"] for k in levels]
    w = 0.27
    xs2 = range(len(levels))
    bx.bar([x - w for x in xs2], g, w, label="cot greedy")
    bx.bar(list(xs2), s, w, label="self-consistency@16")
    bx.bar([x + w for x in xs2], b, w, label=f"{lv['strategy']} (picked on dev at 16)")
    bx.set_xticks(list(xs2))
    bx.set_xticklabels([f"L{k}" for k in levels])
    bx.set_ylabel("test accuracy")
    v = out["verifier"]
    bx.set_title(f"by level; verifier AUC learned {v['auc_learned']} vs log-prob {v['auc_logprob']}", fontsize=9)
    bx.legend(fontsize=7)
    bx.set_ylim(0, 1.05)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
