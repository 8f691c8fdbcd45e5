"""DeepConf's online parameters chosen on a development set, never on the test problems.

    NLRL_THREADS=1 python benchmarks/deepconf_dev.py --part collect --problems 120
    python benchmarks/deepconf_dev.py --part replay      # the grid, written to deepconf_dev.json
    NLRL_THREADS=1 python benchmarks/deepconf_dev.py --part fidelity --problems 20

**The dev set** (:func:`dev_problems`): the same generator as the test set of
``benchmarks/deepconf.py`` / ``benchmarks/search.py`` ("What is X + Y?", X in [10, 40], Y in
[2, 9]), drawn from ``random.Random(DEV_RNG)`` instead of ``random.Random(2025)``, without
replacement, skipping every question that is among the 60 test problems: the two sets share no
question. Seeds ``DEV_SEED + 100 * i`` (the test problems use ``4321 + 100 * i``).

**Collect** (the embedded model, the test benchmark's prompt and sampling: the one-example math
prompt, ``max_tokens`` 32, T = 0.7, each sample ended at its final-answer line by a
:class:`~nlrl.gists.GistStream`): per problem, the 16 self-consistency samples (sample j seeded
``seed + j``, as every nlrl strategy seeds it) in one call with their per-token log-probabilities
and the streamed events (which token each ``TokenEvent`` carried, and whether the gist stream
ended the sample there), cached one problem per line in ``deepconf_dev.samples.jsonl``; a rerun
resumes.

**Replay** (:func:`replay`): DeepConf online's rule run on those recorded samples instead of
fresh ones, with the strategy's own pieces (``nlrl.strategies.deepconf``: ``trace_confidence``,
``threshold``, ``GroupWindow`` (the early-stop gate's window), ``voters`` and ``consensus``):
warm-up samples in full, the threshold from them, each later sample cut where the gate would
have cut it (its tokens counted up to there), the consensus check after the warm-up and after each
later sample. Sample j of an online run is seeded ``seed + j`` too, so a replayed run sees the
samples a real one would draw, up to the engine's last-bit differences between a batched and a
one-at-a-time call. Self-consistency at N is the majority over the first N recorded samples.
Every configuration of the grid gets its tokens and accuracy at N = 8 and 16 (paired against
self-consistency), and :func:`choose` picks one by the rule stated there, fixed before the
replay was run (the grid's window and tau ranges were widened once, after a first look at 29
dev problems put the best configuration at their smallest values).

**Fidelity** (:func:`fidelity`): the real strategy, at its defaults (which must be the chosen
configuration), on the first dev problems, against the replay: how often answer, tokens and
samples drawn agree, and the token saving each gives.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.backends import TokenObserver  # noqa: E402
from nlrl.bench.metrics import accuracy, bootstrap_interval  # noqa: E402
from nlrl.strategies import majority  # noqa: E402
from nlrl.strategies.deepconf import GroupWindow, consensus, threshold, trace_confidence, voters  # noqa: E402
from nlrl.strategies.voting import equivalence_for  # noqa: E402

from deepconf import correct, problems, ratio_interval  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SAMPLES = RESULTS / "deepconf_dev.samples.jsonl"
OUT = RESULTS / "deepconf_dev.json"
DEV_RNG = 20261202
DEV_SEED = 9876
TEST_PROBLEMS = 60
N_MAX = 16
NS = (8, 16)
MAX_TOKENS = 32
TEMPERATURE = 0.7


def dev_problems(count: int) -> list[tuple[str, str]]:
    """``count`` sums from the test set's generator, none of them a test question."""
    test = {q for q, _ in problems(TEST_PROBLEMS)}
    rng = random.Random(DEV_RNG)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < count:
        x, y = rng.randint(10, 40), rng.randint(2, 9)
        q = f"What is {x} + {y}?"
        if q in test or q in seen:
            continue
        if len(seen) + len(test) >= 31 * 8:
            raise ValueError(f"the generator has only {31 * 8 - len(test)} questions outside the test set")
        seen.add(q)
        out.append((q, str(x + y)))
    return out


# ---- collect ----------------------------------------------------------------------------------

class EventRecorder(TokenObserver):
    """Forwards every event to ``inner`` (the gist stream) and records, per sample, the token
    each event carried, its log-probability and whether ``inner`` ended the sample there."""

    def __init__(self, inner: TokenObserver) -> None:
        self.inner = inner
        self.events: dict[int, list[tuple[int | None, float | None, bool]]] = {}

    def next_call(self) -> None:
        self.events = {}
        self.inner.next_call()

    def __call__(self, event) -> bool:
        stop = bool(self.inner(event))
        self.events.setdefault(event.index, []).append((event.token_id, event.logprob, stop))
        return stop


def event_positions(token_ids: list[int], logprobs: list[float],
                    events: list[tuple[int | None, float | None, bool]]) -> list[list]:
    """``[tokens so far, ended by the gist stream]`` per event that carries a log-probability
    (its token's, ``logprobs[tokens so far - 1]``): each event is matched to the next token with
    its id and log-probability."""
    out, k = [], 0
    for tok, lp, stop in events:
        if lp is None:
            continue
        while k < len(token_ids) and not (token_ids[k] == tok and logprobs[k] == lp):
            k += 1
        if k == len(token_ids):
            raise ValueError("an event matches no token")
        k += 1
        out.append([k, stop])
    return out


def record_samples(backend, task, n: int, seed: int, max_tokens: int = MAX_TOKENS,
                   temperature: float = TEMPERATURE) -> list[dict]:
    """``n`` samples of ``task`` in one call (sample j seeded ``seed + j``), each ended at its
    final-answer line by a gist stream, with its log-probabilities and streamed events."""
    from nlrl.gists import GistStream
    from nlrl.strategies import Budget, Run

    rec = EventRecorder(GistStream(task.domain))
    run = Run(task, backend, budget=Budget(n=n, max_tokens=max_tokens, temperature=temperature, seed=seed),
              on_token=rec)
    gen = run.generate([task.prompt_text], run.params(n=n, temperature=temperature, seed=seed, logprobs=True))[0]
    out = []
    for c in gen.completions:
        lps = [float(x) for x in c.logprobs or ()]
        out.append({"j": c.index, "text": c.text, "answer": task.extract(c.text), "tokens": c.num_tokens,
                    "finish_reason": c.finish_reason, "logprobs": lps,
                    "events": event_positions(list(c.token_ids), lps, rec.events.get(c.index, []))})
    return out


def collect(count: int) -> None:
    from nlrl.backends import load_backend
    from nlrl.tasks.task import Task

    done = set()
    if SAMPLES.exists():
        done = {json.loads(line)["i"] for line in SAMPLES.read_text().splitlines() if line.strip()}
    backend = load_backend("embedded", n_ctx=2048, n_threads=int(os.environ.get("NLRL_THREADS") or 0) or None)
    with SAMPLES.open("a") as fh:
        for i, (q, gold) in enumerate(dev_problems(count)):
            if i in done:
                continue
            t0 = time.perf_counter()
            seed = DEV_SEED + 100 * i
            samples = record_samples(backend, Task.build(q, domain="math", difficulty="easy"), N_MAX, seed)
            row = {"i": i, "question": q, "gold": gold, "seed": seed, "samples": samples,
                   "wall_s": round(time.perf_counter() - t0, 2)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"[dev {i + 1}/{count}] {q} gold={gold} {row['wall_s']}s "
                  f"{sum(correct(s['answer'], gold) for s in samples)}/16 right", flush=True)


def load_samples() -> list[dict]:
    rows = {}
    for line in SAMPLES.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows.setdefault(r["i"], r)
    return [rows[i] for i in sorted(rows)]



# ---- replay -------------------------------------------------------------------------------------

WARMUPS: dict[str, Any] = {"2": 2, "3": 3, "4": 4, "max(2, ceil(N/4))": lambda n: max(2, math.ceil(n / 4))}
ETAS = (10.0, 30.0, 50.0, 70.0, 90.0)
# widened after a look at the first 29 dev problems put the best at the smallest window and tau
WINDOWS = (1, 2, 3, 4, 6, 8, 12, 16)
TAUS = (0.6, 0.7, 0.8, 0.9, 0.95, None)
VOTES = (1, 2, 3)
WARMUP_CONSENSUS = (False, True)


_EQ: dict[str, Any] = {}


def equivalence(question: str):
    """The math equivalence for ``question``, memoised: the grid asks the same pairs thousands of
    times (answers are compared exactly as the strategy compares them)."""
    if question not in _EQ:
        _EQ[question] = functools.lru_cache(maxsize=None)(equivalence_for("math", question))
    return _EQ[question]


def sc_answer(row: dict, n: int) -> str | None:
    key = ("sc", n)
    if key not in row:
        row[key] = majority([x["answer"] for x in row["samples"][:n]], equivalent=equivalence(row["question"])).answer
    return row[key]


def warmup_size(spec: str, n: int) -> int:
    w = WARMUPS[spec]
    return min(n, w(n) if callable(w) else w)


def replay(row: dict, n: int, *, warmup: int, eta: float, window: int, tau: float | None, votes: int,
           warmup_consensus: bool) -> tuple[str | None, int, int]:
    """DeepConf online on one problem's recorded samples: ``(answer, tokens, samples drawn)``.

    The order of checks is the strategy's (``DeepConf._finish``): warm-up in full (with
    ``warmup_consensus``, the consensus checked after each warm-up sample from the
    ``votes``-th on, under the threshold of the warm-up so far), threshold, then per later sample:
    consensus check, draw through the gate."""
    eq = equivalence(row["question"])
    recs = row["samples"]
    answers: list[str | None] = []
    confs: list[float | None] = []
    stopped: list[bool] = []
    tokens = 0

    def settled(s: float) -> bool:
        chosen = voters(confs, stopped, s)
        beta, answered, _ = consensus([answers[i] for i in chosen], [confs[i] or 0.0 for i in chosen], eq)
        return tau is not None and answered >= votes and beta >= tau

    def take(j: int, s: float | None) -> None:
        nonlocal tokens
        rec = recs[j]
        cut = None
        if s is not None:  # through the gate: the gist stream's own stop comes first and is not an early stop
            gate = GroupWindow(window, s)
            for k, gist_stop in rec["events"]:
                if gist_stop:
                    break
                if gate.push(rec["logprobs"][k - 1]):
                    cut = k
                    break
        lps = rec["logprobs"] if cut is None else rec["logprobs"][:cut]
        tokens += rec["tokens"] if cut is None else cut
        answers.append(rec["answer"])  # a stopped sample's answer never votes
        confs.append(trace_confidence(lps, window))
        stopped.append(cut is not None)

    warm = min(n, warmup)
    for j in range(warm):
        take(j, None)
        if warmup_consensus and tau is not None and votes <= j + 1 < warm:
            basis = [c for c in confs if c is not None]
            if basis and settled(threshold(basis, eta)):
                return _final(answers, confs, stopped, threshold(basis, eta), eq), tokens, j + 1
    basis = [c for c in confs if c is not None]
    if not basis:
        return majority(answers[:n], equivalent=eq).answer, sum(r["tokens"] for r in recs[:n]), n
    s = threshold(basis, eta)
    j = warm
    while j < n and not settled(s):
        take(j, s)
        j += 1
    return _final(answers, confs, stopped, s, eq), tokens, j


def _final(answers, confs, stopped, s, eq) -> str | None:
    chosen = voters(confs, stopped, s) or [i for i, st in enumerate(stopped) if not st] or list(range(len(answers)))
    return majority([answers[i] for i in chosen], equivalent=eq, weights=[confs[i] or 0.0 for i in chosen]).answer


def grid() -> list[dict]:
    out = []
    for w, eta, win, tau, votes, wc in itertools.product(WARMUPS, ETAS, WINDOWS, TAUS, VOTES, WARMUP_CONSENSUS):
        if tau is None and (votes != VOTES[0] or wc):  # no consensus stop: votes and warm-up exit mean nothing
            continue
        out.append({"warmup": w, "eta": eta, "window": win, "consensus": tau, "consensus_votes": votes,
                    "warmup_consensus": wc})
    return out


def evaluate(rows: list[dict], cfg: dict) -> dict:
    out = {}
    for n in NS:
        tok, sc_tok, diff, right = [], [], [], []
        for r in rows:
            ans, t, _ = replay(r, n, warmup=warmup_size(cfg["warmup"], n), eta=cfg["eta"], window=cfg["window"],
                               tau=cfg["consensus"], votes=cfg["consensus_votes"],
                               warmup_consensus=cfg["warmup_consensus"])
            first = r["samples"][:n]
            sc = sc_answer(r, n)
            tok.append(t)
            sc_tok.append(sum(x["tokens"] for x in first))
            ok, sc_ok = correct(ans, r["gold"]), correct(sc, r["gold"])
            right.append(ok)
            diff.append(float(ok) - float(sc_ok))
        out[f"n{n}"] = {"accuracy": round(float(np.mean(right)), 4), "accuracy_diff": round(float(np.mean(diff)), 4),
                        "tokens_saved": round(1 - sum(tok) / sum(sc_tok), 4), "_tok": tok, "_sc_tok": sc_tok,
                        "_diff": diff}
    return out


def choose(results: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """The selection rule, fixed before the replay ran: among configurations whose dev accuracy is
    at least self-consistency's at both N (point estimates), the one with the largest *smaller*
    of the two token savings; ties by the higher summed accuracy, then the earlier in grid order."""
    ok = [(c, m) for c, m in results if all(m[f"n{n}"]["accuracy_diff"] >= 0 for n in NS)]
    if not ok:
        raise ValueError("no configuration keeps self-consistency's accuracy on the dev set")
    return max(ok, key=lambda cm: (min(cm[1][f"n{n}"]["tokens_saved"] for n in NS),
                                   sum(cm[1][f"n{n}"]["accuracy"] for n in NS)))


def public(m: dict) -> dict:
    return {k: {f: v for f, v in part.items() if not f.startswith("_")} for k, part in m.items()}


ALL_COLUMNS = ["warmup", "eta", "window", "consensus", "consensus_votes", "warmup_consensus"] + [
    f"n{n}_{f}" for n in NS for f in ("accuracy", "accuracy_diff", "tokens_saved")]


def compact(results: list[tuple[dict, dict]]) -> dict:
    """Every configuration's figures as one short row each (``columns`` names them)."""
    return {"columns": ALL_COLUMNS,
            "rows": [[c[k] for k in ALL_COLUMNS[:6]] + [m[f"n{n}"][f] for n in NS
                                                         for f in ("accuracy", "accuracy_diff", "tokens_saved")]
                     for c, m in results]}


def write_replay() -> dict:
    rows = load_samples()
    t0 = time.perf_counter()
    results = [(cfg, evaluate(rows, cfg)) for cfg in grid()]
    cfg, m = choose(results)
    detail = {}
    for n in NS:
        part = m[f"n{n}"]
        tok, sc_tok = np.array(part["_tok"], dtype=float), np.array(part["_sc_tok"], dtype=float)
        lo, hi = bootstrap_interval(part["_diff"])
        detail[f"n{n}"] = {**public(m)[f"n{n}"], "accuracy_diff_ci95": [round(lo, 4), round(hi, 4)],
                           "token_ratio_ci95": ratio_interval(tok, sc_tok)}
    sc = {}
    for n in NS:
        rights = [correct(majority([x["answer"] for x in r["samples"][:n]],
                                   equivalent=equivalence_for("math", r["question"])).answer, r["gold"]) for r in rows]
        sc[f"n{n}"] = {**accuracy(rights), "tokens": int(sum(sum(x["tokens"] for x in r["samples"][:n]) for r in rows))}
    ranked = sorted(results, key=lambda cm: -min(cm[1][f"n{n}"]["tokens_saved"] for n in NS))
    out = {
        "benchmark": "deepconf online parameters chosen by replay on a dev set disjoint from the test problems",
        "dev_set": {"problems": len(rows), "generator": "benchmarks/deepconf.py's form, random.Random(%d), "
                    "without replacement, test questions (the first %d of random.Random(2025)) skipped" % (DEV_RNG, TEST_PROBLEMS),
                    "seeds": f"{DEV_SEED} + 100 * i", "samples_per_problem": N_MAX, "max_tokens": MAX_TOKENS,
                    "temperature": TEMPERATURE, "prompt": "math, easy (one example)", "stop_at_answer_line": True},
        "self_consistency": sc,
        "sample_accuracy": round(sum(correct(x["answer"], r["gold"]) for r in rows for x in r["samples"])
                                 / (N_MAX * len(rows)), 4),
        "grid": {"warmup": list(WARMUPS), "eta": list(ETAS), "window": list(WINDOWS), "consensus": list(TAUS),
                 "consensus_votes": list(VOTES), "warmup_consensus": list(WARMUP_CONSENSUS),
                 "configurations": len(results)},
        "rule": choose.__doc__.split("rule, fixed before the replay ran: ")[1].replace("\n   ", "").strip(),
        "chosen": {"config": cfg, "warmup_sizes": {str(n): warmup_size(cfg["warmup"], n) for n in NS}, **detail},
        "top20_by_smaller_saving": [{"config": c, **public(mm)} for c, mm in ranked[:20]],
        "all": compact([(c, public(mm)) for c, mm in results]),
        "replay_s": round(time.perf_counter() - t0, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    write_out(out)
    return out


def write_out(out: dict) -> None:
    """deepconf_dev.json: indented, except the grid's rows (one line each)."""
    rows = out["all"]["rows"]
    text = json.dumps({**out, "all": {**out["all"], "rows": "@ROWS@"}}, indent=1)
    OUT.write_text(text.replace('"@ROWS@"', "[\n" + ",\n".join("  " + json.dumps(r) for r in rows) + "\n ]") + "\n")



# ---- fidelity: the real strategy on dev problems vs the replay --------------------------------

def fidelity(count: int) -> dict:
    """The real strategy (its defaults: the chosen configuration) on the first ``count`` dev
    problems, against the replay of the same configuration on their recorded samples."""
    from nlrl.backends import load_backend
    from nlrl.gists import GistStream
    from nlrl.strategies import Budget
    from nlrl.strategies.deepconf import DeepConf
    from nlrl.tasks.task import Task

    out = json.loads(OUT.read_text())
    cfg = out["chosen"]["config"]
    d = DeepConf()
    assert (d.eta, d.window, d.consensus, d.consensus_votes, d.warmup_consensus) == (
        cfg["eta"], cfg["window"], cfg["consensus"], cfg["consensus_votes"], cfg["warmup_consensus"]), \
        "the strategy's defaults are not the chosen configuration"
    backend = load_backend("embedded", n_ctx=2048, n_threads=int(os.environ.get("NLRL_THREADS") or 0) or None)
    rows, t0 = [], time.perf_counter()
    for r in load_samples()[:count]:
        task = Task.build(r["question"], domain="math", difficulty="easy")
        for n in NS:
            res = DeepConf()(task, backend, budget=Budget(n=n, max_tokens=MAX_TOKENS, temperature=TEMPERATURE,
                                                          seed=r["seed"]), on_token=GistStream("math"))
            ans, tok, drawn = replay(r, n, warmup=d.warmup_size(n), eta=d.eta, window=d.window, tau=d.consensus,
                                     votes=d.consensus_votes, warmup_consensus=d.warmup_consensus)
            rows.append({"i": r["i"], "n": n, "real": [res.answer, res.usage.completion_tokens, res.extra["samples"]],
                         "replay": [ans, tok, drawn],
                         "sc_tokens": sum(x["tokens"] for x in r["samples"][:n])})
            print(f"[fidelity {r['i']} N={n}] real {rows[-1]['real']} replay {rows[-1]['replay']}", flush=True)
    summary = {}
    for n in NS:
        part = [x for x in rows if x["n"] == n]
        sc = sum(x["sc_tokens"] for x in part)
        summary[f"n{n}"] = {
            "problems": len(part),
            "identical": sum(x["real"] == x["replay"] for x in part),
            "same_answer": sum(x["real"][0] == x["replay"][0] for x in part),
            "tokens_real": sum(x["real"][1] for x in part), "tokens_replay": sum(x["replay"][1] for x in part),
            "saved_real": round(1 - sum(x["real"][1] for x in part) / sc, 4),
            "saved_replay": round(1 - sum(x["replay"][1] for x in part) / sc, 4),
        }
    out["fidelity"] = {"what": "the real strategy with the chosen defaults on the first dev problems, against "
                               "the replay on their recorded samples (answer, generated tokens, samples drawn)",
                       "summary": summary, "rows": rows, "wall_s": round(time.perf_counter() - t0, 1)}
    write_out(out)
    return out["fidelity"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("collect", "replay", "fidelity"), required=True)
    ap.add_argument("--problems", type=int, default=120, help="collect, fidelity: the first K dev problems")
    args = ap.parse_args()
    if args.part == "collect":
        collect(args.problems)
    elif args.part == "fidelity":
        print(json.dumps(fidelity(args.problems)["summary"], indent=1))
    else:
        out = write_replay()
        print(json.dumps(out["chosen"], indent=1))


if __name__ == "__main__":
    main()
