"""Calibrate the levels of the ``arith`` benchmark: greedy chain-of-thought accuracy of the
embedded model per level, written to benchmarks/results/arith_calibration.json.

    NLRL_THREADS=1 python benchmarks/arith_calibration.py              # 30 dev problems a level
    python benchmarks/arith_calibration.py --problems 60 --split test

What runs: ``nlrl bench``'s runner (the ``cot`` strategy, temperature 0, the math few-shot
prompt) on the first ``--problems`` records of each level of the chosen split (dev by default:
the levels are tuned on dev, reported on test), with a per-level ``max_tokens`` (arithmetic
needs few tokens; the word problems get more). Greedy completions are cached in a SQLite file
and each level's run directory resumes, so a rerun replays instead of generating. Accuracies
carry 95% Wilson intervals. The goal (issue 16): roughly 80%+ at level 1, under 5% at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.bench import BenchProgress, BenchRunner, CachingBackend, load_dataset  # noqa: E402
from nlrl.bench.arith import ABOUT, LEVELS  # noqa: E402
from nlrl.bench.runner import select_level  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: generated-token limit per completion at each level (the answer line comes early in easy ones)
MAX_TOKENS = {1: 32, 2: 32, 3: 40, 4: 40, 5: 48, 6: 96}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nlrl" / "benchmarks" / "arith_calibration"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=30, help="problems per level")
    ap.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "arith_calibration.json")
    args = ap.parse_args(argv)

    from nlrl.backends import load_backend

    name = "arith" if args.split == "test" else f"arith-{args.split}"
    ds = load_dataset(name)
    work = cache_dir()
    engine = CachingBackend(load_backend("embedded", n_ctx=2048, n_threads=args.threads),
                            work / "completions.sqlite")
    levels = []
    started = time.perf_counter()
    with engine:
        for level in LEVELS:
            runner = BenchRunner(engine, strategy="cot", n=1, max_tokens=MAX_TOKENS[level], temperature=0.0,
                                 seed=0, plots=False, progress=BenchProgress(enabled=False))
            s = runner.run(select_level(ds, level), work / f"{name}-L{level}", limit=args.problems)
            levels.append({"level": level, "about": ABOUT[level], "max_tokens": MAX_TOKENS[level],
                           "n": s["n"], "correct": s["correct"], "accuracy": s["accuracy"],
                           "ci95": s["ci95"], "tokens_per_sample": s["tokens_per_sample"]["generated"],
                           "errors": s.get("errors", 0)})
            print(f"level {level}: {s['correct']}/{s['n']} = {s['accuracy']:.3f} {s['ci95']}", flush=True)
    result = {
        "benchmark": "arith level calibration: greedy cot accuracy of the embedded model per level",
        "command": f"NLRL_THREADS={args.threads} python benchmarks/arith_calibration.py "
                   f"--problems {args.problems} --split {args.split}",
        "model": engine.model_name,
        "dataset": name, "dataset_digest": ds.digest(), "strategy": "cot", "temperature": 0.0,
        "problems_per_level": args.problems,
        "goal": "accuracy roughly >= 0.8 at level 1 and < 0.05 at the top level",
        "levels": levels,
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
