"""``nlrl serve`` as a proxy in front of llama-cpp-python's server (Gemma 3 270M), and optillm
proxying the same server.

    python benchmarks/serve.py                  # everything, ~12-18 min on 2 busy cores
    python benchmarks/serve.py --skip-optillm   # nlrl only
    python benchmarks/serve.py --overhead-only  # the overhead pairs, printed (nothing written)

Writes benchmarks/results/serve.json:

* ``overhead``: the same raw prompts sent to the upstream server directly with the ``openai``
  client and through ``nlrl serve`` (strategy ``cot``, ``/v1/completions``), one at a time, in
  pairs timed in the same upstream cache state (``cold`` and ``warm``: see ``bench_overhead``),
  each side first on half the prompts; a control run of the same pairs with the upstream on both
  sides gives the noise floor. Goal: median ratio <= 1.05 (median over prompts of the pair's
  ratio, the larger of cold and warm). Beside it, the same goal read from nlrl's own time per
  request (latency less the upstream call as nlrl timed it) added to the direct call: the paired
  ratios on a loaded machine swing as much as the goal's margin (the control shows it), this
  figure does not (``ratio_median_from_outside_time``; see ``bench_overhead``). Measured ``--overhead-runs`` times (default 2) with the
  same servers: ``overhead`` is the first, ``overhead_repeats`` the others' ratios. Beside the
  times, what nlrl spends per request: CPU time and context switches of its process (both
  hardly depend on the machine's load, which the times do).
* ``throughput``: requests/s through ``nlrl serve`` at concurrency 1, 8 and 32; the run at 32 is
  256 requests (goal: 0 errors). ``throughput_upstream_direct``: the upstream alone at 8, for scale.
* ``optillm``: optillm (PyPI, installed by this script with uv into its own virtual environment
  under ~/.cache/nlrl, never into this one) proxying the same upstream: chat latency of its
  pass-through (``none-`` prefix) vs nlrl's ``cot`` and the upstream itself, time to first
  streamed content, and what a self-consistency request with ``n=2`` returns from each (number
  of choices, usage, content).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import openai  # noqa: E402

from nlrl.backends.llama import default_model_path  # noqa: E402

ALIAS = "gemma-3-270m"
OUT = ROOT / "benchmarks" / "results" / "serve.json"
OPTILLM_VERSION = "0.4.0"
CHAT = [{"role": "user", "content": "What is 7 + 5?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child server process on loopback, ready when ``ready_path`` answers 200."""

    def __init__(self, name: str, cmd: list[str], port: int, ready_path: str, log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.cmd, self.port = name, cmd, port
        self.base = f"http://127.0.0.1:{port}"
        self.ready_path, self.log = ready_path, log_dir / f"{name}.log"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300) -> float:
        t0 = time.perf_counter()
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.cmd, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        while time.perf_counter() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout_s}s")

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def prompts(k: int) -> list[str]:
    return [f"Q: What is {i % 50} + {i // 50 + 1}?\nA:" for i in range(k)]


def cpu_s(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def switches(pid: int) -> int | None:
    """Context switches (voluntary and not) of all a process's threads so far; None off Linux."""
    total = 0
    try:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                total += sum(int(line.split()[1]) for line in status.read_text().splitlines()
                             if "ctxt_switches:" in line)
            except OSError:
                pass  # a thread that ended meanwhile
    except OSError:
        return None
    return total


def client(url: str, key: str = "EMPTY") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)


# ---- overhead and throughput -------------------------------------------------------------------


RESET = "Reset.\n"  # a prompt sharing no prefix with the timed ones


def bench_overhead(upstream: str, nlrl: str, k: int, max_tokens: int, *, control: bool = True,
                   cpu: Callable[[], float | None] = lambda: None,
                   ctx: Callable[[], int | None] = lambda: None) -> dict[str, Any]:
    """Latency of the same prompts sent to the upstream directly and through nlrl, in pairs.

    llama-cpp-python's server keeps the last request's KV cache, so a prompt it has just seen is
    answered faster (no prompt evaluation), and the state the previous request left matters. Were
    one prompt sent to both sides back to back, the second call of every pair would be a cache hit:
    each side's latencies would form two clusters, and a median of half of each lands in the gap
    between them (an extreme-value statistic that moves a few % from run to run). So every timed
    call comes right after the same untimed preparation, sent the same way as the timed call (so
    each side's connection is as warm as the other's), which leaves the upstream in the same state
    and with the same recent work for both sides:

    * ``cold``: a 1-token request of an unrelated prompt, so the timed prompt is evaluated in full,
      as a new request's is (the common case for a proxy);
    * ``warm``: that, then a 1-token request of the timed prompt, so the timed call hits the cache
      (the figure where a fixed overhead weighs most: the upstream's own time is smallest).

    Which side goes first alternates. The headline ``ratio_median`` is the median over prompts of
    the pair's ratio (nlrl / direct, adjacent in time, so a load swing on this shared machine moves
    both); the ratio of the two sides' medians is reported beside it. ``control``: the same pairs
    with the upstream on both sides (a second client): what zero overhead shows in this run, the
    noise floor of the ratios.
    Those ratios carry the upstream's own swings, which on a loaded machine are as large as the
    effect (the control shows how large). So each call through nlrl is also split in two: the
    upstream call as nlrl timed it (``nlrl.usage.by_kind.sample.wall_s``: sending the request,
    the upstream's work, reading the answer) and the rest, nlrl's own time (``nlrl_outside_upstream_ms``:
    the extra HTTP hop from the client, parsing, planning, building and sending the answer).
    ``ratio_median_from_outside_time``: the median over prompts of (direct + that rest) / direct,
    i.e. the direct call with nlrl's own time added; its upstream call stands in for the direct
    call (the same request on the same loopback, made with httpx as the ``openai`` client does).
    It moves little with the load, as it holds no second sample of the upstream's time.
    ``cpu``: the nlrl process's CPU seconds so far, read around its pairs (not the control);
    ``ctx``: its threads' context switches so far (each thread a request wakes is one or more:
    a figure that, unlike the times, hardly moves with the machine's load).
    """

    sent: dict[int, int] = {}  # requests per client

    def call(c: openai.OpenAI, p: str, tokens: int = max_tokens) -> tuple[float, str, float | None]:
        """Latency, text, and (through nlrl) the upstream call's wall time as nlrl timed it."""
        sent[id(c)] = sent.get(id(c), 0) + 1
        t0 = time.perf_counter()
        r = c.completions.create(model=ALIAS, prompt=p, max_tokens=tokens, temperature=0.0)
        dt = time.perf_counter() - t0
        sample = ((r.model_extra or {}).get("nlrl") or {}).get("usage", {}).get("by_kind", {}).get("sample")
        return dt, r.choices[0].text, sample["wall_s"] if sample else None

    def pairs(a: openai.OpenAI, b: openai.OpenAI) -> dict[str, Any]:
        sides = {"direct": a, "nlrl": b}
        out: dict[str, Any] = {}
        for mode in ("cold", "warm"):
            times: dict[str, list[float]] = {"direct": [], "nlrl": []}
            outside: list[float] = []  # through nlrl: its time outside its upstream call
            same = 0
            for i, p in enumerate(prompts(k)):
                texts = {}
                for name in (["direct", "nlrl"] if i % 2 == 0 else ["nlrl", "direct"]):
                    call(sides[name], RESET, 1)
                    if mode == "warm":
                        call(sides[name], p, 1)
                    dt, texts[name], upstream_s = call(sides[name], p)
                    times[name].append(dt)
                    if name == "nlrl" and upstream_s is not None:
                        outside.append(dt - upstream_s)
                same += texts["direct"] == texts["nlrl"]
            med = {n: statistics.median(v) * 1000 for n, v in times.items()}
            pairs_ = list(zip(times["nlrl"], times["direct"]))
            out[mode] = {"median_ms": {n: round(v, 2) for n, v in med.items()},
                         "ratio_median_paired": round(statistics.median(x / y for x, y in pairs_), 4),
                         "ratio_of_medians": round(med["nlrl"] / med["direct"], 4),
                         "ratio_total": round(sum(times["nlrl"]) / sum(times["direct"]), 4),
                         "median_paired_difference_ms": round(statistics.median((x - y) * 1000 for x, y in pairs_), 2),
                         "identical_texts": f"{same}/{k}"}
            if len(outside) == k:
                out[mode]["nlrl_outside_upstream_ms"] = {
                    "median": round(statistics.median(outside) * 1000, 2),
                    "p90": round(sorted(outside)[int(0.9 * (k - 1))] * 1000, 2)}
                out[mode]["ratio_median_from_outside_time"] = round(statistics.median(
                    (d + o) / d for d, o in zip(times["direct"], outside)), 4)
        return out

    direct, ours = client(upstream), client(nlrl)
    call(direct, "warm up"), call(ours, "warm up")
    cpu0, ctx0, sent0 = cpu(), ctx(), sent.get(id(ours), 0)
    res: dict[str, Any] = {"requests_each": k, "max_tokens": max_tokens, "route": "/v1/completions, strategy cot",
                           **pairs(direct, ours)}
    cpu1, ctx1, through_nlrl = cpu(), ctx(), sent.get(id(ours), 0) - sent0
    res["ratio_median"] = max(res["cold"]["ratio_median_paired"], res["warm"]["ratio_median_paired"])
    if all("ratio_median_from_outside_time" in res[m] for m in ("cold", "warm")):
        res["ratio_median_from_outside_time"] = max(res[m]["ratio_median_from_outside_time"]
                                                    for m in ("cold", "warm"))
    res["ratio_median_is"] = "the median over prompts of nlrl's latency / the upstream's, the larger of cold and warm"
    res["goal"] = "ratio_median <= 1.05"
    if cpu0 is not None and cpu1 is not None:
        # over every request nlrl served in the pairs (the preparation calls included; most are
        # 1-token requests), idle moments between them included
        res["nlrl_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / through_nlrl, 2)
        res["nlrl_requests_in_pairs"] = through_nlrl
    if ctx0 is not None and ctx1 is not None:
        res["nlrl_context_switches_per_request"] = round((ctx1 - ctx0) / through_nlrl, 1)
    if control:
        ctl = pairs(direct, client(upstream))
        res["control_upstream_vs_itself"] = {
            m: {key: ctl[m][key] for key in ("ratio_median_paired", "ratio_of_medians", "median_paired_difference_ms")}
            for m in ("cold", "warm")}
    return res


def bench_throughput(url: str, concurrency: int, requests: int, max_tokens: int) -> dict[str, Any]:
    c = client(url)
    errors: list[str] = []
    tokens = [0]

    def one(p: str) -> None:
        try:
            r = c.completions.create(model=ALIAS, prompt=p, max_tokens=max_tokens, temperature=0.0)
            tokens[0] += r.usage.completion_tokens
        except Exception as exc:  # counted, with the first one recorded
            errors.append(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, prompts(requests)))
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": requests, "max_tokens": max_tokens, "errors": len(errors),
            "first_error": errors[0] if errors else None, "wall_s": round(wall, 3),
            "requests_per_s": round(requests / wall, 3), "completion_tokens_per_s": round(tokens[0] / wall, 2)}


# ---- optillm -----------------------------------------------------------------------------------


def optillm_env(cache: Path) -> tuple[Path, str]:
    """optillm's own virtual environment (uv), created once and cached; returns its executable."""
    venv = cache / "optillm-venv"
    exe = venv / "bin" / "optillm"
    uv = shutil.which("uv")
    if uv is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True)
        uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not (venv / "bin" / "python").exists():
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    # a no-op when that version is already there
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    f"optillm=={OPTILLM_VERSION}"], check=True)
    version = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('optillm'))"],
                             capture_output=True, text=True).stdout.strip()
    return exe, version


def chat_call(c: openai.OpenAI, model: str, max_tokens: int, **kw: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        r = c.chat.completions.create(model=model, messages=CHAT, max_tokens=max_tokens, **kw)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "latency_s": round(time.perf_counter() - t0, 3)}
    u = r.usage
    return {"latency_s": round(time.perf_counter() - t0, 3), "choices": len(r.choices),
            "contents": [(ch.message.content or "")[:160] for ch in r.choices],
            "usage": None if u is None else {"prompt_tokens": u.prompt_tokens,
                                            "completion_tokens": u.completion_tokens},
            "nlrl": (r.model_extra or {}).get("nlrl", {}).get("usage")}


def ttft(c: openai.OpenAI, model: str, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first, first_reasoning, chunks, reasoning_chunks, text = None, None, 0, 0, ""
    try:
        for ch in c.chat.completions.create(model=model, messages=CHAT, max_tokens=max_tokens, stream=True):
            piece = ch.choices[0].delta.content if ch.choices else None
            thought = (ch.choices[0].delta.model_extra or {}).get("reasoning_content") if ch.choices else None
            if thought:
                reasoning_chunks += 1
                if first_reasoning is None:
                    first_reasoning = time.perf_counter() - t0
            if piece:
                chunks += 1
                text += piece
                if first is None:
                    first = time.perf_counter() - t0
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    total = time.perf_counter() - t0
    return {"ttft_s": None if first is None else round(first, 3),
            "first_reasoning_s": None if first_reasoning is None else round(first_reasoning, 3),
            "total_s": round(total, 3), "content_chunks": chunks, "reasoning_chunks": reasoning_chunks,
            "content": text[:160]}


def bench_optillm(upstream: Proc, nlrl_url: str, log_dir: Path, cache: Path, reps: int, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    exe, version = optillm_env(cache)
    install_s = time.perf_counter() - t0
    port = free_port()
    opt = Proc("optillm", [str(exe), "--base-url", upstream.base + "/v1", "--port", str(port),
                           "--host", "127.0.0.1", "--log", "warning"],
               port, "/v1/models", log_dir, env={"OPENAI_API_KEY": "none"})
    try:
        start_s = opt.start(timeout_s=600)
    except RuntimeError as exc:
        return {"version": version, "error": str(exc)[:1000]}
    try:
        o, n, d = client(opt.base + "/v1", "none"), client(nlrl_url), client(upstream.base + "/v1")
        lat: dict[str, list[dict[str, Any]]] = {"optillm_none": [], "nlrl_cot": [], "upstream_chat": []}
        calls = [("optillm_none", o, f"none-{ALIAS}"), ("nlrl_cot", n, ALIAS), ("upstream_chat", d, ALIAS)]
        for i in range(reps):
            for name, c, model in (calls if i % 2 == 0 else calls[::-1]):
                lat[name].append(chat_call(c, model, max_tokens, temperature=0.0))
        summary = {}
        for name, rs in lat.items():
            ok = [r for r in rs if "error" not in r]
            summary[name] = {
                "requests": len(rs), "errors": len(rs) - len(ok),
                "median_latency_s": round(statistics.median(r["latency_s"] for r in ok), 3) if ok else None,
                "median_completion_tokens": statistics.median(
                    r["usage"]["completion_tokens"] for r in ok if r["usage"]) if ok else None,
                "non_empty_answers": sum(bool(r["contents"][0].strip()) for r in ok),
                "example": ok[0] if ok else rs[0]}
        stream = {"optillm_none": ttft(o, f"none-{ALIAS}", max_tokens), "nlrl_cot": ttft(n, ALIAS, max_tokens),
                  "optillm_self_consistency": ttft(o, f"self_consistency-{ALIAS}", max_tokens),
                  "nlrl_self_consistency": ttft(n, f"self-consistency-4/{ALIAS}", max_tokens)}
        sc = {"optillm": chat_call(o, f"self_consistency-{ALIAS}", max_tokens, n=2, temperature=0.8),
              "nlrl": chat_call(n, f"self-consistency-4/{ALIAS}", max_tokens, n=2, temperature=0.8)}
        return {"version": version, "install_or_cache_s": round(install_s, 1), "start_s": round(start_s, 1),
                "max_tokens": max_tokens, "pass_through_chat": summary, "streaming": stream,
                "self_consistency_n2": sc,
                "note": ("A base model sent through its chat template ends its turn at once: the upstream "
                         "and a pass-through answer fast and empty; nlrl renders the chat through its "
                         "few-shot prompt and generates a real answer, so its latency includes those tokens.")}
    finally:
        opt.stop()


# ---- main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-optillm", action="store_true")
    ap.add_argument("--overhead-only", action="store_true", help="print the overhead figures; write nothing")
    ap.add_argument("--overhead-requests", type=int, default=40)
    ap.add_argument("--overhead-runs", type=int, default=2, help="measure the overhead this many times")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--load-requests", type=int, default=256)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nlrl")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="nlrl-serve-bench-"))
    load0 = os.getloadavg()
    up_port, nl_port = free_port(), free_port()
    upstream = Proc("llama-server", [sys.executable, "-m", "nlrl.backends.llama_server", "--model", default_model_path(),
                                     "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(up_port),
                                     "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
                                     "--verbose", "False", "--interrupt_requests", "False"],
                    up_port, "/v1/models", log_dir)
    nlrl = Proc("nlrl-serve", [sys.executable, "-m", "nlrl", "serve", "--port", str(nl_port),
                               "--backend", "openai", "--base-url", upstream.base + "/v1", "--model", ALIAS,
                               "--served-model-name", ALIAS, "--max-concurrency", "32", "--max-queue", "512",
                               "--run-dir", str(log_dir / "nlrl-run")],
                nl_port, "/health", log_dir, env={"PYTHONPATH": str(ROOT / "src")})
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "openai": openai.__version__, "load_avg_at_start": [round(x, 2) for x in load0]},
        "upstream": "llama-cpp-python server (python -m llama_cpp.server), Gemma 3 270M Q4_K_M, 1 thread, loopback",
        "nlrl": "nlrl serve --backend openai (proxy), --max-concurrency 32",
    }
    try:
        out["upstream_start_s"] = round(upstream.start(), 2)
        out["nlrl_start_s"] = round(nlrl.start(), 2)
        print("overhead ...", flush=True)
        pid = nlrl.proc.pid  # type: ignore[union-attr]
        runs = []
        for _ in range(args.overhead_runs):
            runs.append(bench_overhead(upstream.base + "/v1", nlrl.base + "/v1", args.overhead_requests,
                                       args.max_tokens, cpu=lambda: cpu_s(pid), ctx=lambda: switches(pid)))
            runs[-1]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(runs[-1]), flush=True)
        out["overhead"] = runs[0]
        # the same measurement again, minutes later: how far the figures move on this machine
        out["overhead_repeats"] = [{m: {key: o[m][key] for key in ("ratio_median_paired", "ratio_of_medians")}
                                    for m in ("cold", "warm")}
                                   | {"ratio_median": o["ratio_median"],
                                      "ratio_median_from_outside_time": o.get("ratio_median_from_outside_time"),
                                      "nlrl_outside_upstream_ms": {m: o[m].get("nlrl_outside_upstream_ms")
                                                                   for m in ("cold", "warm")},
                                      "control_upstream_vs_itself": o.get("control_upstream_vs_itself"),
                                      "load_avg_after": o["load_avg_after"]} for o in runs[1:]]
        if args.overhead_only:
            return
        try:
            out["throughput"] = []
            for conc, reqs in ((1, 16), (8, 64), (32, args.load_requests)):
                print(f"throughput at {conc} ...", flush=True)
                out["throughput"].append(bench_throughput(nlrl.base + "/v1", conc, reqs, args.max_tokens))
                print(json.dumps(out["throughput"][-1]), flush=True)
            print("upstream directly at 8 ...", flush=True)
            out["throughput_upstream_direct"] = bench_throughput(upstream.base + "/v1", 8, 64, args.max_tokens)
            load = out["throughput"][-1]
            out["load"] = {"requests": load["requests"], "concurrency": 32, "errors": load["errors"],
                           "goal": "0 errors"}
            if not args.skip_optillm:
                print("optillm ...", flush=True)
                out["optillm"] = bench_optillm(upstream, nlrl.base + "/v1", log_dir, args.cache, reps=6,
                                               max_tokens=24)
                print(json.dumps(out["optillm"])[:3000], flush=True)
        except Exception as exc:  # the machine failing a later part (no thread to start, say): the
            # overhead figures measured so far are still written, with what stopped the run
            out["incomplete"] = f"{type(exc).__name__}: {exc}"
            print(f"stopped: {out['incomplete']}", flush=True)
    finally:
        out["nlrl_exit_code_after_sigterm"] = nlrl.stop()
        upstream.stop()
        out["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.overhead_only:
        print(json.dumps(out["machine"]))
        return
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
