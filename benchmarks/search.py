"""The search frontier on the embedded model, written to benchmarks/results/search.json (and the
plot docs/img/search.png):

1. ``deepconf`` vs ``self-consistency`` at N = 8 and N = 16: generated tokens and accuracy,
   paired per problem, with 95% intervals;
2. ``dvts``, ``mcts``, ``particle-filter``, ``beam`` and ``best-of-n`` at equal generated-token
   budgets (``Budget.max_total_tokens``), with the log-probability process reward as evaluator,
   and ``mcts`` with the language value (``evaluator="value"``, whose own tokens count against
   the same budget).

    NLRL_THREADS=1 python benchmarks/search.py --part deepconf --problems 60
    NLRL_THREADS=1 python benchmarks/search.py --part search --problems 30
    python benchmarks/search.py --part report          # search.json and the plot from the rows

The two parts are separate processes (they can run at the same time) that append one row per
problem to ``search.deepconf.rows.jsonl`` / ``search.search.rows.jsonl``; a rerun resumes, and a
finished problem is never recomputed (its rows are replayed). A second process per part with
``--reverse`` works from the last problem down, so the problems done are a prefix and a suffix
of the fixed set (fixed in advance; which ones depends only on how far each process got). Sampled completions are not cached
one by one: the harness's completion cache keeps greedy generations only, and an online DeepConf
sample is cut by its streaming callback, which a replay could not reproduce.

Problems: ``benchmarks/deepconf.py``'s set (``random.Random(2025)``: "What is X + Y?", X in
[10, 40], Y in [2, 9]); its first 40 are the problems of ``deepconf.json``. The model gets about
13% of single samples right and self-consistency at N = 8 about 28%: there is signal to find.

Part 1 (seed ``SEED + 100 * i``, the one-example math prompt, ``max_tokens`` 32, T = 0.7, each
sample ends at its final-answer line as ``nlrl solve`` does):

* ``deepconf`` offline (eta 50, window 8) draws 16 samples in full. Self-consistency at N is the
  plain majority over the first N of them (sample j is seeded ``seed + j``, so N = 8 samples are
  a prefix of N = 16) and its tokens are theirs: the pairing is exact. DeepConf offline at N = 8
  is the same rule (threshold from those 8 samples' confidences, confidence-weighted vote) applied
  to the first 8;
* ``deepconf`` online (eta 10, window 8, warm-up ``max(2, ceil(N / 4))``, the paper's adaptive
  sampling: consensus stop at tau 0.95 with at least 2 voters) runs on its own at N = 8 and
  N = 16: its later samples are drawn one at a time, really stopped early by the backend, and
  sampling ends once the voters agree;
* ``gate``: the same online run without adaptive sampling (``consensus`` None: every sample up to
  N, the later ones in one call), to show what each part saves;
* ``defaults``: ``deepconf`` online with the strategy's defaults (what ``nlrl solve --strategy
  deepconf`` runs), whose parameters were chosen by replaying the online rule on recorded samples
  of a dev set that shares no question with these problems (``benchmarks/deepconf_dev.py`` ->
  ``deepconf_dev.json``); nothing was tuned on these problems. Its key records every resolved
  default, so a change of default reruns it.

Part 1 resumes per arm and configuration: each row carries the digest of every arm's
configuration (``keys``) and an arm is read back only under the current one. Rows from before
the keys existed (the first 60-problem run, whose online arm had no adaptive sampling) count as
offline and gate rows while ``LEGACY`` equals the current configuration, so their 16 samples
are not redrawn.

Part 2 (same problems, seeds and prompt; one step per line, ``step_tokens`` 16, at most 6 steps):
every strategy runs under ``max_total_tokens`` = each budget in ``BUDGETS``; the reported tokens
are what it really generated (never above the budget).

Accuracy carries Wilson 95% intervals; differences against self-consistency carry paired
percentile-bootstrap 95% intervals over problems (``nlrl.bench.metrics.bootstrap_interval``; the
same resampling for the token ratio).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.bench.metrics import accuracy, bootstrap_interval  # noqa: E402
from nlrl.strategies import Budget, get_strategy, majority  # noqa: E402
from nlrl.strategies.deepconf import threshold  # noqa: E402
from nlrl.strategies.voting import equivalence_for  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402

# the same 60 generated sums as the N = 8 DeepConf benchmark, graded the same way
from deepconf import correct, problems, ratio_interval  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PLOT = ROOT / "docs" / "img" / "search.png"
SEED = 4321
MAX_TOKENS = 32
TEMPERATURE = 0.7
NS = (8, 16)
# online: the paper's online mode with adaptive sampling (consensus stop at tau = 0.95, at least 2
# voters); gate: the same without adaptive sampling (every sample up to N, the early-stop gate only)
ONLINE = {"mode": "online", "eta": 10.0, "window": 8, "consensus": 0.95, "consensus_votes": 2}
# defaults: DeepConf online as ``nlrl solve --strategy deepconf`` runs it, with the parameters chosen
# on a dev set disjoint from these problems (benchmarks/deepconf_dev.py -> deepconf_dev.json)
DEFAULTS = {"mode": "online"}
GATE = {"mode": "online", "eta": 10.0, "window": 8, "consensus": None}
OFFLINE = {"mode": "offline", "eta": 50.0, "window": 8}
DC_ARMS = ("sc", "offline", "gate", "online", "defaults")
ONLINE_ARMS = ("gate", "online", "defaults")
BUDGETS = (128, 256)
STEP = {"step_tokens": 16, "max_steps": 6}
SEARCH: dict[str, tuple[str, dict[str, Any]]] = {
    "best-of-n": ("best-of-n", {"n": 16}),
    "beam": ("beam", {"width": 2, "expansions": 2, **STEP}),
    "dvts": ("dvts", {"n": 8, "width": 2, **STEP}),
    "particle-filter": ("particle-filter", {"n": 4, **STEP}),
    "mcts": ("mcts", {"iterations": 64, "expansions": 2, **STEP}),
    "mcts-value": ("mcts", {"iterations": 64, "expansions": 2, "evaluator": "value", "value_tokens": 32, **STEP}),
}


def task_of(question: str) -> Task:
    return Task.build(question, domain="math", difficulty="easy")


# ---- part 1: deepconf vs self-consistency ----------------------------------------------------

def offline_vote(samples: list[dict], question: str) -> str | None:
    """DeepConf offline over ``samples`` (their trace confidences from the trace): the top eta%
    by confidence vote, weighted by confidence (as ``DeepConf._finish``)."""
    confs = [s["confidence"] for s in samples if s.get("confidence") is not None]
    if not confs:
        return None
    s = threshold(confs, OFFLINE["eta"])
    voters = [x for x in samples if x.get("confidence") is not None and x["confidence"] >= s]
    return majority([x["answer"] for x in voters], equivalent=equivalence_for("math", question),
                    weights=[x["confidence"] for x in voters]).answer


# Part 1 resumes per arm and per configuration: every row records the digest of the configuration
# each of its arms ran with (``keys``), and a problem's arm is read back only from a row whose key for
# it equals the current configuration's. "offline" covers the 16 full samples, so sc, offline and
# sample_correct; "gate" and "online" their own runs.
ARM_PARTS = {"offline": ("sc", "offline", "sample_correct"), "gate": ("gate",), "online": ("online",),
             "defaults": ("defaults",)}
# Rows written before the keys existed (the first 60-problem run) ran this configuration: the
# offline arm as OFFLINE, and an online arm that had no adaptive sampling, i.e. GATE (deepconf's
# consensus stop did not exist; ``consensus=None`` is that same code path). Their "online{n}" is
# read as "gate{n}" when these still equal the current OFFLINE and GATE.
LEGACY = {"offline": {"mode": "offline", "eta": 50.0, "window": 8},
          "gate": {"mode": "online", "eta": 10.0, "window": 8, "consensus": None}}


def arm_config(arm: str) -> dict:
    if arm == "defaults":  # the strategy's defaults, resolved: a change of default is a new configuration
        return {"seed": SEED, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE, "ns": list(NS),
                "prompt": "math, easy", "strategy": resolved_defaults()}
    opts = {"offline": OFFLINE, "gate": GATE, "online": ONLINE}[arm]
    return {"seed": SEED, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE, "ns": list(NS),
            "prompt": "math, easy", "strategy": opts,
            "warmup": None if arm == "offline" else "max(2, ceil(N / 4))"}


def resolved_defaults() -> dict:
    """Every parameter of DeepConf online at its default (warm-up sizes at each N)."""
    from nlrl.strategies.deepconf import DeepConf

    d = DeepConf(**DEFAULTS)
    return {"mode": d.mode, "eta": d.eta, "window": d.window, "consensus": d.consensus,
            "consensus_votes": d.consensus_votes, "warmup_consensus": d.warmup_consensus,
            "warmup": {str(n): d.warmup_size(n) for n in NS}}


def arm_key(arm: str, config: dict | None = None) -> str:
    """The digest of an arm's configuration."""
    return hashlib.sha256(json.dumps(config or arm_config(arm), sort_keys=True).encode()).hexdigest()[:12]


def legacy_keys() -> dict[str, str]:
    out = {}
    for arm, opts in LEGACY.items():
        cfg = arm_config(arm)
        out[arm] = arm_key(arm, {**cfg, "strategy": opts})
    return out


def dc_arms_of(row: dict) -> dict[str, str]:
    """``{arm: key}`` for the arms a row holds (a legacy row's as :data:`LEGACY` says)."""
    if "keys" in row:
        return dict(row["keys"])
    return legacy_keys()


def missing_arms(row: dict | None) -> list[str]:
    have = {} if row is None else row.get("keys", {})
    return [arm for arm in ARM_PARTS if have.get(arm) != arm_key(arm)]


def run_deepconf(backend, i: int, question: str, gold: str, arms: list[str]) -> dict:
    """The part-1 ``arms`` on problem ``i``: one row, with the configuration key of each arm."""
    from nlrl.gists import GistStream

    task = task_of(question)
    row: dict[str, Any] = {"i": i, "question": question, "gold": gold, "keys": {a: arm_key(a) for a in arms}}
    eq = equivalence_for("math", question)
    if "offline" in arms:
        _run_offline(backend, task, i, question, gold, row, eq)
    for n in NS:
        for arm, opts in (("gate", GATE), ("online", ONLINE), ("defaults", DEFAULTS)):
            if arm not in arms:
                continue
            t1 = time.perf_counter()
            on = get_strategy("deepconf", n=n, **opts)(
                task, backend, budget=Budget(n=n, max_tokens=MAX_TOKENS, temperature=TEMPERATURE, seed=SEED + 100 * i),
                on_token=GistStream("math"))
            row[f"{arm}{n}"] = {"answer": on.answer, "correct": correct(on.answer, gold),
                                "tokens": on.usage.completion_tokens, "samples": on.extra.get("samples"),
                                "stopped_early": on.extra.get("stopped_early"), "voters": on.extra.get("voters"),
                                "consensus_reached": on.extra.get("consensus_reached"),
                                "fallback": on.extra.get("fallback"), "wall_s": round(time.perf_counter() - t1, 2)}
    return row


def _run_offline(backend, task, i: int, question: str, gold: str, row: dict, eq) -> None:
    from nlrl.gists import GistStream

    budget = Budget(n=max(NS), max_tokens=MAX_TOKENS, temperature=TEMPERATURE, seed=SEED + 100 * i)
    t0 = time.perf_counter()
    off = get_strategy("deepconf", **OFFLINE)(task, backend, budget=budget, on_token=GistStream("math"))
    row["offline_wall_s"] = round(time.perf_counter() - t0, 2)
    samples = [dict(e.data) for e in off.trace if e.kind == "sample"]
    for n in NS:
        first = samples[:n]
        sc = majority([s["answer"] for s in first], equivalent=eq).answer
        tok = sum(s["tokens"] for s in first)
        row[f"sc{n}"] = {"answer": sc, "correct": correct(sc, gold), "tokens": tok}
        dco = off.answer if n == len(samples) else offline_vote(first, question)
        row[f"offline{n}"] = {"answer": dco, "correct": correct(dco, gold), "tokens": tok}
        row[f"sample_correct{n}"] = sum(correct(s["answer"], gold) for s in first)


# ---- part 2: search strategies at equal token budgets ----------------------------------------

def run_search(backend, i: int, question: str, gold: str, done: set[str], fh) -> None:
    """Every strategy at every budget not yet run on problem ``i``; one row per run, appended as it
    finishes (a step-level search on this shared machine takes minutes)."""
    task = task_of(question)
    for budget_tokens in BUDGETS:
        for label, (name, opts) in SEARCH.items():
            key = f"{label}@{budget_tokens}"
            if key in done:
                continue
            budget = Budget(n=8, max_tokens=MAX_TOKENS, max_total_tokens=budget_tokens,
                            temperature=TEMPERATURE, seed=SEED + 100 * i)
            strat = get_strategy(name, **opts)
            t0, c0 = time.perf_counter(), time.process_time()
            res = strat(task, backend, budget=budget, reward="logprob" if name == "best-of-n" else None)
            assert res.usage.completion_tokens <= budget_tokens, (key, res.usage.completion_tokens)
            row = {"i": i, "question": question, "gold": gold, "key": key,
                   "answer": res.answer, "correct": correct(res.answer, gold),
                   "tokens": res.usage.completion_tokens, "prompt_tokens": res.usage.prompt_tokens,
                   "calls": res.usage.calls, "stopped": res.extra.get("stopped"),
                   "finished": res.extra.get("finished"),
                   "fallback": any(e.kind == "fallback" for e in res.trace),
                   "wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            write_report(backend.model_name)
            print(f"[search {i}] {key}: {res.answer!r} (gold {gold}) {row['tokens']} tokens, "
                  f"{row['cpu_s']} cpu-s", flush=True)


# ---- summaries ---------------------------------------------------------------------------------

def method_summary(rows: list[dict], key: str) -> dict:
    tok = np.array([r[key]["tokens"] for r in rows], dtype=float)
    return {**accuracy(r[key]["correct"] for r in rows), "tokens": int(tok.sum()),
            "tokens_per_problem": round(float(tok.mean()), 2)}


def paired(rows: list[dict], key: str, base: str) -> dict:
    tok = np.array([r[key]["tokens"] for r in rows], dtype=float)
    btok = np.array([r[base]["tokens"] for r in rows], dtype=float)
    diff = [float(r[key]["correct"]) - float(r[base]["correct"]) for r in rows]
    lo, hi = bootstrap_interval(diff)
    return {"accuracy_diff": round(float(np.mean(diff)), 4), "accuracy_diff_ci95": [round(lo, 4), round(hi, 4)],
            "token_ratio": round(float(tok.sum() / btok.sum()), 4), "token_ratio_ci95": ratio_interval(tok, btok),
            "tokens_saved_fraction": round(float(1 - tok.sum() / btok.sum()), 4),
            "not_significantly_worse": bool(hi >= 0)}


def summarize_deepconf(rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for n in NS:
        part: dict[str, Any] = {}
        for m in DC_ARMS:
            part[m] = method_summary(rows, f"{m}{n}")
        for m in DC_ARMS[1:]:
            part[m]["vs_sc"] = paired(rows, f"{m}{n}", f"sc{n}")
            part[m]["vs_sc"]["goal_met"] = bool(part[m]["vs_sc"]["tokens_saved_fraction"] >= 0.40
                                                and part[m]["vs_sc"]["accuracy_diff_ci95"][1] >= 0)
        for m in ONLINE_ARMS:
            # a legacy gate row has no "samples": without adaptive sampling (and no token cap) it drew all n
            part[m]["samples"] = int(sum(r[f"{m}{n}"].get("samples") or n for r in rows))
            part[m]["stopped_early"] = int(sum(r[f"{m}{n}"]["stopped_early"] or 0 for r in rows))
            warm = resolved_defaults()["warmup"][str(n)] if m == "defaults" else max(2, math.ceil(n / 4))
            part[m]["stoppable_samples"] = len(rows) * (n - warm)
        for m in ("online", "defaults"):
            part[m]["consensus_reached"] = int(sum(bool(r[f"{m}{n}"]["consensus_reached"]) for r in rows))
            part[m]["vs_gate"] = paired(rows, f"{m}{n}", f"gate{n}")
        part["sample_accuracy"] = round(sum(r[f"sample_correct{n}"] for r in rows) / (n * len(rows)), 4)
        out[f"n{n}"] = part
    return out


def summarize_search(rows: list[dict]) -> dict:
    """Per budget, over the problems on which every strategy ran at that budget (paired)."""
    out: dict[str, Any] = {}
    for b in BUDGETS:
        keys = [f"{label}@{b}" for label in SEARCH]
        done = [r for r in rows if all(k in r for k in keys)]
        part: dict[str, Any] = {"problems": len(done), "problem_ids": [r["i"] for r in done],
                                "runs_done": {k: sum(k in r for r in rows) for k in keys}}
        if not done:
            out[f"budget{b}"] = part
            continue
        for label in SEARCH:
            key = f"{label}@{b}"
            s = method_summary(done, key)
            s["fallbacks"] = sum(bool(r[key]["fallback"]) for r in done)
            s["no_answer"] = sum(r[key]["answer"] is None for r in done)
            s["max_tokens_seen"] = max(r[key]["tokens"] for r in done)
            s["cpu_s_per_problem"] = round(sum(r[key].get("cpu_s", 0.0) for r in done) / len(done), 1)
            if label != "best-of-n":
                s["vs_best_of_n"] = {k: v for k, v in paired(done, key, f"best-of-n@{b}").items()
                                     if k.startswith("accuracy")}
            part[label] = s
        out[f"budget{b}"] = part
    return out


def load_rows(path: Path) -> list[dict]:
    """The rows of a part, one per problem (the first written wins if two processes met); a
    search row gathers the problem's runs under their keys ("beam@128", ...)."""
    if not path.exists():
        return []
    rows: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "key" in r:  # one search run
            row = rows.setdefault(r["i"], {"i": r["i"], "question": r["question"], "gold": r["gold"]})
            row.setdefault(r["key"], {k: v for k, v in r.items() if k not in ("i", "question", "gold", "key")})
        else:  # part 1: each arm from the first row that ran it under the current configuration
            keys = dc_arms_of(r)
            if "keys" not in r:  # a legacy row: its online arm is the gate arm
                r = {**r, **{f"gate{n}": r[f"online{n}"] for n in NS if f"online{n}" in r}}
                r = {k: v for k, v in r.items() if not (k.startswith("online") and k[6:].isdigit())}
            row = rows.setdefault(r["i"], {"i": r["i"], "question": r["question"], "gold": r["gold"], "keys": {}})
            for arm, key in keys.items():
                if key != arm_key(arm) or arm in row["keys"]:
                    continue
                row["keys"][arm] = key
                for field in ARM_PARTS[arm]:
                    for k, v in r.items():
                        if k == field + str(_n(k, field)):
                            row[k] = v
                if arm == "offline":
                    row["offline_wall_s"] = r.get("offline_wall_s", 0.0)
    return list(rows.values())


def _n(key: str, field: str) -> int | None:
    """The N a part-1 field name carries ("online16" for "online": 16), else None."""
    rest = key[len(field):] if key.startswith(field) else ""
    return int(rest) if rest.isdigit() else None


def complete_dc(rows: list[dict]) -> list[dict]:
    """The part-1 rows with every arm run under the current configuration."""
    return [r for r in rows if not missing_arms(r)]


def rows_path(part: str) -> Path:
    return RESULTS / f"search.{part}.rows.jsonl"


def write_report(model: str | None = None) -> dict:
    dc_all = load_rows(rows_path("deepconf"))
    dc = sorted(complete_dc(dc_all), key=lambda r: r["i"])
    se = sorted(load_rows(rows_path("search")), key=lambda r: r["i"])
    out_path = RESULTS / "search.json"
    old = json.loads(out_path.read_text()) if out_path.exists() else {}
    out = {
        "benchmark": "search frontier: deepconf vs self-consistency; dvts, mcts, particle-filter, beam, best-of-n "
                     "at equal token budgets",
        "model": model or old.get("model"),
        "problem_set": "What is X + Y?, X in [10, 40], Y in [2, 9], random.Random(2025) (benchmarks/deepconf.py's)",
        "config": {"seed": SEED, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE, "prompt": "math, easy (one example)",
                   "deepconf": {"ns": list(NS), "online": ONLINE, "gate": GATE, "offline": OFFLINE,
                                "defaults": resolved_defaults(),
                                "defaults_chosen_by": "benchmarks/deepconf_dev.py on a dev set disjoint from "
                                                      "these problems (deepconf_dev.json)",
                                "warmup": "max(2, ceil(N / 4))",
                                "keys": {a: arm_key(a) for a in ARM_PARTS},
                                "sc": "majority over the first N of the offline run's 16 samples"},
                   "search": {"budgets": list(BUDGETS), "strategies": {k: {"strategy": v[0], **v[1]} for k, v in SEARCH.items()},
                              "evaluator": "log-probability process reward (best-of-n: logprob outcome reward); "
                                           "mcts-value: the language value, its tokens inside the budget"},
                   "threads": os.environ.get("NLRL_THREADS"),
                   "threads_note": "rows written before 2026-12-02 10:10 UTC ran with 2 llama.cpp threads (NLRL_THREADS "
                                   "was not passed to the backend); tokens and answers do not depend on it"},
        "deepconf": {"problems": len(dc), "problem_ids": [r["i"] for r in dc],
                     "arms_done": {a: sum(a in r["keys"] for r in dc_all) for a in ARM_PARTS},
                     "summary": summarize_deepconf(dc) if dc else None},
        "search": {"problems": len(se), "summary": summarize_search(se) if se else None,
                   "runs": [{"i": r["i"], "gold": r["gold"], "key": k, **{f: v[f] for f in
                             ("answer", "correct", "tokens", "fallback", "stopped", "cpu_s") if f in v}}
                            for r in se for k, v in r.items() if isinstance(v, dict)]},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "note": "a shared 2-core machine: wall times are not comparable, tokens are"},
        "wall_s": {"deepconf": round(sum(r.get("offline_wall_s", 0.0) + sum(r[f"{m}{n}"]["wall_s"] for n in NS
                                                                            for m in ONLINE_ARMS) for r in dc), 1),
                   "search": round(sum(v["wall_s"] for r in se for k, v in r.items() if isinstance(v, dict)), 1),
                   "search_cpu": round(sum(v.get("cpu_s", 0.0) for r in se for k, v in r.items()
                                           if isinstance(v, dict)), 1)},
    }
    tmp = out_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, out_path)
    if se:
        plot(out)
    return out


def plot(out: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the figures are in search.json either way
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    summ = out["search"]["summary"]
    budgets = [b for b in BUDGETS if summ[f"budget{b}"]["problems"]]
    if not budgets:
        return
    for label in SEARCH:
        xs = [summ[f"budget{b}"][label]["tokens_per_problem"] for b in budgets]
        ys = [summ[f"budget{b}"][label]["accuracy"] for b in budgets]
        lo = [y - summ[f"budget{b}"][label]["ci95"][0] for b, y in zip(budgets, ys)]
        hi = [summ[f"budget{b}"][label]["ci95"][1] - y for b, y in zip(budgets, ys)]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label, alpha=0.85)
    dc = out["deepconf"]["summary"]
    if dc:
        names = {"sc": "self-consistency", "gate": "deepconf online, no consensus stop",
                 "online": "deepconf online, consensus 0.95", "defaults": "deepconf online, dev-chosen defaults"}
        for m, mk in (("sc", "s"), ("gate", "v"), ("online", "^"), ("defaults", "D")):
            xs = [dc[f"n{n}"][m]["tokens_per_problem"] for n in NS]
            ys = [dc[f"n{n}"][m]["accuracy"] for n in NS]
            ax.plot(xs, ys, marker=mk, linestyle="--", label=f"{names[m]} (N=8, 16)")
    ax.set_xlabel("generated tokens per problem (budgets: " + ", ".join(map(str, BUDGETS)) + ")")
    ax.set_ylabel("accuracy (95% Wilson)")
    n = max(summ[f"budget{b}"]["problems"] for b in budgets)
    ax.set_title(f"Search strategies, {out['model']} ({n} sums)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)  # write_report runs after every problem: do not keep every figure open


def _acc(m: dict) -> str:
    lo, hi = m["ci95"]
    return f"{m['correct']}/{m['n']} = {m['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"


def _diff(d: dict) -> str:
    lo, hi = d["accuracy_diff_ci95"]
    return f"{d['accuracy_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def markdown(out: dict) -> str:
    """The docs' tables, printed from search.json (so the docs' figures equal the file's)."""
    lines = []
    dc = out["deepconf"]["summary"]
    if dc:
        lines += [f"DeepConf vs self-consistency ({out['deepconf']['problems']} problems):", "",
                  "| N | method | accuracy | generated tokens | tokens / self-consistency | accuracy − self-consistency |",
                  "|---|---|---|---|---|---|"]
        for n in NS:
            part = dc[f"n{n}"]
            lines.append(f"| {n} | self-consistency | {_acc(part['sc'])} | {part['sc']['tokens']} | 1 | 0 |")
            for m in DC_ARMS[1:]:
                v = part[m]["vs_sc"]
                lo, hi = v["token_ratio_ci95"]
                label = {"gate": "online, no consensus stop", "online": "online (consensus 0.95)",
                         "defaults": "online, dev-chosen defaults"}.get(m, m)
                lines.append(f"| {n} | deepconf {label} | {_acc(part[m])} | {part[m]['tokens']} | "
                             f"{v['token_ratio']:.4f} [{lo:.4f}, {hi:.4f}] | {_diff(v)} |")
        lines += ["", "| N | online arm | samples drawn | stopped early | consensus reached | "
                  "tokens / no-consensus arm | accuracy − no-consensus arm |", "|---|---|---|---|---|---|---|"]
        for n in NS:
            part = dc[f"n{n}"]
            for m in ONLINE_ARMS:
                g = part[m]
                if m == "gate":
                    lines.append(f"| {n} | no consensus stop | {g['samples']} | {g['stopped_early']} | - | 1 | 0 |")
                    continue
                v = g["vs_gate"]
                lo, hi = v["token_ratio_ci95"]
                label = "consensus 0.95" if m == "online" else "dev-chosen defaults"
                lines.append(f"| {n} | {label} | {g['samples']} | {g['stopped_early']} | "
                             f"{g['consensus_reached']}/{out['deepconf']['problems']} | "
                             f"{v['token_ratio']:.4f} [{lo:.4f}, {hi:.4f}] | {_diff(v)} |")
        lines.append("")
    se = out["search"]["summary"]
    if se:
        lines += ["Search at equal token budgets:", "",
                  "| budget | strategy | accuracy | tokens / problem | most tokens in a run | fallbacks | no answer "
                  "| accuracy − best-of-n | cpu-s / problem |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for b in BUDGETS:
            if not se[f"budget{b}"]["problems"]:
                lines.append(f"| {b} | (no problem with every strategy run: {se[f'budget{b}']['runs_done']}) |")
                continue
            for label in SEARCH:
                m = se[f"budget{b}"][label]
                d = _diff(m["vs_best_of_n"]) if "vs_best_of_n" in m else "0"
                lines.append(f"| {b} | {label} | {_acc(m)} | {m['tokens_per_problem']} | {m['max_tokens_seen']} | "
                             f"{m['fallbacks']} | {m['no_answer']} | {d} | {m['cpu_s_per_problem']} |")
    runs = out["search"].get("runs") or []
    if runs and len(runs) > 40:
        lines += ["", f"({len(runs)} search runs, each with its answer, tokens and CPU seconds: "
                      "`search.json`'s `search.runs`.)"]
    elif runs:
        lines += ["", "Every search run done (problem, strategy@budget, answer vs gold, tokens generated, CPU seconds):", "",
                  "| problem | run | answer | gold | correct | tokens | fallback | cpu-s |", "|---|---|---|---|---|---|---|---|"]
        for r in runs:
            lines.append(f"| {r['i']} | {r['key']} | {r['answer']} | {r['gold']} | {'yes' if r['correct'] else 'no'} | "
                         f"{r['tokens']} | {'yes' if r['fallback'] else 'no'} | {r.get('cpu_s')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("deepconf", "search", "report"), required=True)
    ap.add_argument("--problems", type=int, default=60, help="the first K of the fixed set")
    ap.add_argument("--markdown", action="store_true", help="with --part report: print the docs' tables")
    ap.add_argument("--reverse", action="store_true",
                    help="work from the last problem down (a second process on the same part meets the first)")
    ap.add_argument("--start", type=int, default=0,
                    help="begin at this problem and wrap around (more processes on one part, each from its own place)")
    args = ap.parse_args()
    if args.part == "report":
        out = write_report()
        print(markdown(out) if args.markdown else json.dumps(out, indent=1)[:4000])
        return
    from nlrl.backends import load_backend

    # llama.cpp threads: NLRL_THREADS (the backend's default is one per core, which on a busy shared
    # machine makes every decode wait on a descheduled thread: 5x the CPU per token measured here)
    backend = load_backend("embedded", n_ctx=2048, n_threads=int(os.environ.get("NLRL_THREADS") or 0) or None)
    path = rows_path(args.part)
    order = list(enumerate(problems(args.problems)))
    order = order[args.start:] + order[:args.start]
    with path.open("a") as fh:
        for i, (q, gold) in (reversed(order) if args.reverse else order):
            if args.part == "search":
                have = next((r for r in load_rows(path) if r["i"] == i), {})
                run_search(backend, i, q, gold, {k for k in have if "@" in k}, fh)
                continue
            arms = missing_arms(next((r for r in load_rows(path) if r["i"] == i), None))
            if not arms:  # done here, or by a process running the other way
                continue
            t0 = time.perf_counter()
            row = run_deepconf(backend, i, q, gold, arms)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            write_report(backend.model_name)  # after every problem: stopping early loses nothing
            brief = {k: (v["answer"], v["tokens"]) for k, v in row.items() if isinstance(v, dict) and "answer" in v}
            print(f"[{args.part} {i + 1}/{args.problems}] {q} gold={gold} {time.perf_counter() - t0:.0f}s {brief}",
                  flush=True)


if __name__ == "__main__":
    main()
