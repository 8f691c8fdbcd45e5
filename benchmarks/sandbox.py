"""Cost of the code sandbox in each mode, and the gold code still passing; writes results/sandbox.json.

For every mode this user can run (root: namespaces, bwrap, userns, unsafe; anyone else: bwrap,
userns, unsafe):

- per-program cost: a small program with two tests, run one at a time (median and minimum of
  ``--runs``), as
  a :class:`TestedProgram` (tests judged in the separate process) and as a plain program, against
  a bare ``python -c`` of the same code and tests in the same run; the overhead is the difference
  of the medians;
- HumanEval canonical solutions (bar 164/164) and MBPP sanitized reference code (bar 427/427),
  graded with the code verifier's defaults (MBPP with a 60 s limit, as verifiers_fidelity.py
  does), and the seconds each took.

Results go under a label (default: ``root`` or ``user``), merged into the existing file, so the
file holds both a root run and a normal user's run (as root: ``.ci/run-unprivileged --exec
benchmarks/sandbox.py --out /tmp/sandbox.json``, then merge). The machine's load average is
recorded with each run: on a shared machine absolute times are inflated, compare within a run.

Run: ``python benchmarks/sandbox.py [--modes bwrap,userns] [--runs 15] [--label user] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nlrl.bench.datasets import BUILTIN, load_dataset, read_rows, resolve_data_dir
from nlrl.verifiers import get_verifier
from nlrl.verifiers import sandbox as sb

OUT = Path(__file__).resolve().parent / "results" / "sandbox.json"
PROGRAM = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def _rows(name: str) -> list[dict]:
    return [row for _, row in read_rows(resolve_data_dir() / BUILTIN[name].path)]


def _times_ms(fn, runs: int) -> tuple[float, float]:
    """(median, minimum) wall milliseconds; on a loaded machine the minimum is the closest to
    the unloaded cost."""
    fn()  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 1), round(1000 * min(times), 1)


def _bare() -> None:
    subprocess.run([sys.executable, "-c", PROGRAM + TESTS], check=True, stdin=subprocess.DEVNULL)


def bench_mode(mode: str, runs: int, he, mbpp) -> dict:
    os.environ["NLRL_SANDBOX"] = mode
    sb._MODE = None
    try:
        sb.isolation()
    except Exception as exc:  # noqa: BLE001 - record why the mode is unavailable
        return {"available": False, "why": str(exc)[:300]}
    limits = sb.SandboxLimits()
    tested_program = sb.TestedProgram(PROGRAM, TESTS)

    def run(source):
        r = sb.run_program(source, limits)
        assert r.passed, r.summary()

    res: dict = {"available": True}
    bare1 = _times_ms(_bare, runs)
    tested = _times_ms(lambda: run(tested_program), runs)
    plain = _times_ms(lambda: run(PROGRAM + TESTS), runs)
    bare2 = _times_ms(_bare, runs)
    for i, stat in enumerate(("median", "min")):
        bare = min(bare1[i], bare2[i]) if stat == "min" else (bare1[i] + bare2[i]) / 2
        res[stat] = {"bare_python_c_ms": round(bare, 1), "tested_program_ms": tested[i], "plain_program_ms": plain[i],
                     "overhead_ms_tested": round(tested[i] - bare, 1), "overhead_ms_plain": round(plain[i] - bare, 1)}
    v = get_verifier("code")
    start = time.perf_counter()
    canon = v.check_many([(row["canonical_solution"], r.reference) for r, row in he])
    res["humaneval_seconds"] = round(time.perf_counter() - start, 2)
    res["humaneval_canonical_passed"] = sum(x.correct for x in canon)
    res["humaneval_failures"] = [f"{r.id}: {x.detail}" for (r, _), x in zip(he, canon) if not x.correct]
    start = time.perf_counter()
    mb = get_verifier("code", timeout_s=60).check_many([(row["code"], r.reference) for r, row in mbpp])
    res["mbpp_seconds"] = round(time.perf_counter() - start, 2)
    res["mbpp_reference_passed"] = sum(x.correct for x in mb)
    res["mbpp_failures"] = [f"{r.id}: {x.detail}" for (r, _), x in zip(mbpp, mb) if not x.correct]
    res["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--label", default="root" if os.geteuid() == 0 else "user")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    modes = args.modes.split(",") if args.modes else (
        list(sb.MODES) if os.geteuid() == 0 else ["bwrap", "userns", "unsafe"])
    he = list(zip(load_dataset("humaneval", strict=True), _rows("humaneval")))
    mbpp = list(zip(load_dataset("mbpp", strict=True), _rows("mbpp")))
    run = {"uid": os.getuid(), "cpus": os.cpu_count(), "python": platform.python_version(),
           "kernel": platform.release(), "load_average_before": [round(x, 2) for x in os.getloadavg()],
           "humaneval_total": len(he), "mbpp_total": len(mbpp), "runs_per_median": args.runs, "modes": {}}
    for mode in modes:
        start = time.perf_counter()
        run["modes"][mode] = bench_mode(mode, args.runs, he, mbpp)
        print(mode, json.dumps(run["modes"][mode])[:400], f"({time.perf_counter() - start:.0f} s)", flush=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results[args.label] = run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
