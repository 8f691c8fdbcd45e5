"""Learning language GPI with the embedded model (Gemma 3 270M, loaded from its GGUF by
transformers, LoRA-trained with peft): the metric per iteration, with intervals, against random
play and the optimum.

    python benchmarks/gpi_learning.py                      # the sections below, in parallel
    python benchmarks/gpi_learning.py --sections maze_umaze
    python benchmarks/gpi_learning.py --collect            # only rewrite the json from the run dirs

Each section is one ``nlrl gpi --env ... --learn`` run (a subprocess, resumable: rerunning the
script continues the runs in ``--work``); the sections run side by side. Every measured move is
the trained model's own greedy answer (strictly parsed, masked to the legal moves; failures are
counted fallbacks, random legal moves). Writes benchmarks/results/gpi_learning.json (each run's
results.json plus a summary) and one plot per section (benchmarks/results/gpi_learning_*.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

# Sized to finish on two shared CPU cores before a deadline (the full size does not fit: see
# docs/gpi.md). value_targets off: the mc estimator never reads V^L, and it halves the training time.
SECTIONS: dict[str, dict[str, Any]] = {
    "tictactoe": {"env": "tictactoe", "iterations": 3, "games": 100, "states": 40, "policy_rollouts": 0,
                  "random_rollouts": 32, "rollout_moves": 9, "epochs": 2, "lr": 2e-3, "batch_size": 4,
                  "max_tokens": 20, "retries": 0, "value_targets": False,
                  "validation_games": 30, "retry_lr_factor": 0.25},
    # Mazes: every free cell is a start (25 in double-T, 6 in the U-maze) and a training state.
    # Random rollouts cost no model call, so there are many of them: both mazes are trees, where
    # enough random rollouts rank the move towards the goal first (16 of <= 30 moves got 6 of
    # double-T's 25 cells wrong); one rollout of the current greedy policy per action (its
    # answers are remembered per cell, so it costs at most one call per cell) lets later
    # iterations fix the near-ties far from the goal (only rollouts of its own moves count). The
    # gate's episodes are the same starts (a maze has no others), with other seeds for the
    # fallback draws. Small batches: a maze cell's move must be learned exactly (one wrong cell
    # is a loop), and the action token's loss lags the target's mean loss (in the U-maze, 16
    # steps of batch 4 left one cell's first word at 1.4 nats with 0.24 per token overall).
    # Cells that look alike (the U-maze's (2, 1) and (2, 3), double-T's mirror halves) are told
    # apart by three maze defaults, named here: the prompt says the goal's direction in words
    # (hints), the target's thought restates the position before the move (restate: longer
    # targets, hence max_tokens 32), and each try keeps the epoch whose greedy moves match the
    # training targets best (select_epoch), so more epochs cost decoding time but never a worse pick.
    "maze_double_t": {"env": "maze:double_t", "iterations": 3, "games": 25, "states": 26, "policy_rollouts": 1,
                      "random_rollouts": 512, "rollout_moves": 60, "epochs": 6, "lr": 2e-3, "batch_size": 2,
                      "max_tokens": 32, "retries": 0, "value_targets": False,
                      "validation_games": 25, "retry_lr_factor": 0.25,
                      "hints": True, "restate": True, "select_epoch": True},
    "maze_umaze": {"env": "maze:umaze", "iterations": 3, "games": 6, "states": 6, "policy_rollouts": 1,
                   "random_rollouts": 64, "rollout_moves": 12, "epochs": 15, "lr": 2e-3, "batch_size": 1,
                   "max_tokens": 32, "retries": 0, "value_targets": False,
                   "validation_games": 6, "retry_lr_factor": 0.25,
                   "hints": True, "restate": True, "select_epoch": True},
}
# Ablations: which of the maze defaults the result needs. One iteration each (all of double-T's
# gain came in its iteration 1), without the goal-direction hint; run on two threads on an
# otherwise idle machine.
SECTIONS.update({f"{name}_no_hints": {**SECTIONS[name], "iterations": 1, "hints": False, "threads": 2}
                 for name in ("maze_double_t", "maze_umaze")})


def command(name: str, spec: dict[str, Any], work: Path) -> list[str]:
    args = [sys.executable, "-c", "import sys; from nlrl.cli import main; sys.argv[0] = 'nlrl'; main()", "gpi", "--env", spec["env"], "--learn",
            "--iterations", str(spec["iterations"]), "--out", str(work / name), "--threads", str(spec.get("threads", 1))]
    for key in ("games", "states", "policy_rollouts", "random_rollouts", "rollout_moves", "epochs", "lr",
                "batch_size", "max_tokens", "retries", "validation_games", "retry_lr_factor"):
        if key in spec:  # the gate's settings: absent in sections measured before it existed
            args += ["--" + key.replace("_", "-"), str(spec[key])]
    args.append("--value-targets" if spec.get("value_targets", True) else "--no-value-targets")
    for key in ("hints", "restate", "select_epoch"):  # absent: the environment's default
        if key in spec:
            flag = key.replace("_", "-")
            args.append(f"--{flag}" if spec[key] else f"--no-{flag}")
    return args


def summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("win", "draw", "loss") if result["env"] == "tictactoe" else ("avg_reward", "success")
    rows = []
    for r in result["iterations"]:
        row = {"iteration": r["iteration"], **{k: r[k] for k in keys}, "ci95": r["ci95"],
               "illegal_moves": r["illegal_moves"], "fallbacks": r["fallbacks"], "moves": r["moves"],
               "failure_kinds": r.get("failure_kinds"), "measure_s": r["measure_s"]}
        if "gain" in r:
            row.update(gain=r["gain"], train_loss_before=r["train"]["loss_before"],
                       train_loss_after=r["train"]["loss_after"], train_examples=r["train"]["examples"],
                       train_s=r["train"]["train_s"], s_per_example=r["train"]["s_per_example"],
                       evaluate_s=r["evaluate_s"], wall_s=r["wall_s"])
            if "selected_epoch" in r["train"]:  # epoch selection on the targets' greedy moves
                row.update(epoch_scores=r["train"]["epoch_scores"], selected_epoch=r["train"]["selected_epoch"])
            if "fallback_rollouts" in r:  # current-policy rollouts left out (the model fell back in them)
                row["fallback_rollouts"] = r["fallback_rollouts"]
        if "validation" in r:
            row["validation"] = {k: r["validation"][k] for k in ("score", "fallbacks", "moves")}
        if "gate" in r:
            row["gate"] = {"accepted": r["gate"]["accepted"], "kept": r["gate"]["kept"],
                           "tries": [{"lr": t["lr"], "accepted": t["accepted"],
                                      "rejected_because": t.get("rejected_because"),
                                      "validation": {k: t["validation"][k] for k in ("score", "fallbacks", "moves")}
                                      if "validation" in t else None,
                                      "loss_after": t["train"]["loss_after"],
                                      **{k: t["train"][k] for k in ("epoch_scores", "selected_epoch")
                                         if k in t["train"]}} for t in r["gate"]["tries"]]}
        rows.append(row)
    return {"env": result["env"], "layout": result.get("layout"), "episodes": result["episodes"],
            "baselines": {k: {kk: v[kk] for kk in (*keys, "ci95") if kk in v} for k, v in result["baselines"].items()},
            "iterations": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", nargs="*", default=list(SECTIONS), choices=list(SECTIONS))
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "gpi_learning", help="run directories")
    ap.add_argument("--collect", action="store_true", help="only write the json from the run directories")
    ap.add_argument("--out", type=Path, default=RESULTS / "gpi_learning.json")
    ap.add_argument("--note", default="", help="a line saying how this run went (recorded in the json)")
    ap.add_argument("--kept-note", default="", help="a line recorded on each section kept from the previous json "
                    "(not in --sections), e.g. which code measured it")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "NLRL_THREADS": "1"}
    started = time.time()
    walls: dict[str, float] = {}
    if not args.collect:
        procs = {}
        for name in args.sections:
            log = open(args.work / f"{name}.log", "a", encoding="utf-8")
            procs[name] = (subprocess.Popen(command(name, SECTIONS[name], args.work), cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT), time.time(), log)
        for name, (proc, t0, log) in procs.items():  # noqa: B007
            proc.wait()
            walls[name] = round(time.time() - t0, 1)
            log.close()
            print(f"{name}: exit {proc.returncode} after {walls[name]}s", flush=True)
    out: dict[str, Any] = {
        "what": "learning language GPI on the embedded model (Gemma 3 270M GGUF via transformers + LoRA)",
        "machine": {"cpus": os.cpu_count(), "load_avg_at_end": list(os.getloadavg()), "platform": platform.platform()},
        "sections": {}, "summary": {},
    }
    if args.out.is_file():  # keep sections not rerun this time
        old = json.loads(args.out.read_text(encoding="utf-8"))
        if old.get("note"):
            out["note"] = old["note"]
        out["sections"].update(old.get("sections", {}))
        out["summary"].update(old.get("summary", {}))
        for name in set(out["summary"]) - set(args.sections):
            if args.kept_note:
                out["summary"][name]["note"] = args.kept_note
    for name in args.sections:
        path = args.work / name / "results.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        for row in result["iterations"]:  # episode-level texts stay in the run dir
            row.pop("examples", None)
            if "failed_answers" in row:  # the run dir keeps 40 per iteration; a few here as evidence
                row["failed_answers"] = row["failed_answers"][:6]
        wall = walls.get(name, out["sections"].get(name, {}).get("wall_s"))  # --collect keeps the last one
        out["sections"][name] = {"settings": SECTIONS[name], "command": "nlrl " + " ".join(command(name, SECTIONS[name], Path("RUN"))[3:]),
                                 "wall_s": wall, "result": result}
        out["summary"][name] = {**summary(result), "wall_s": wall,
                                "finished_iterations": len(result["iterations"]) - 1,
                                "planned_iterations": SECTIONS[name]["iterations"]}
        png = args.work / name / "gpi.png"
        if png.is_file():
            shutil.copy(png, RESULTS / f"gpi_learning_{name}.png")
    # a collection runs nothing: each section's wall_s is its run's
    out["wall_s"] = None if args.collect else round(time.time() - started, 1)
    if args.note:  # appended to the notes of earlier invocations
        out["note"] = " ".join(n for n in (out.get("note"), args.note) if n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
