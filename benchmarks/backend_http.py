"""The openai backend against llama-cpp-python's own server on loopback (Gemma 3 270M).

    python benchmarks/backend_http.py                 # everything, ~3-5 min on 2 cores
    python benchmarks/backend_http.py --skip-fault    # overhead and throughput only

Writes benchmarks/results/backend_http.json:

* ``overhead``: the same prompts through the plain ``openai`` client and through
  :class:`OpenAIBackend`, one request at a time, interleaved so each side goes first on half the
  prompts (the server reuses the previous request's KV prefix). Ratio goal: <= 1.05. A second
  pair of figures uses an instant in-process server, to show the client cost alone in µs.
* ``throughput``: 256 requests, 32 in flight (32 caller threads sharing one backend with
  ``max_concurrency=32``): errors (goal 0), requests/s, and the server's own count of requests.
* ``fault``: the server is SIGKILLed mid-run. (1) it stays down: bounded retries, then a clear
  error (its text and attempt count recorded); started again, the failed requests complete.
  (2) it comes back within the retry window: every request completes. (3) a ``BenchRunner``
  run (the harness run store) over GSM8K is stopped by the kill and, run again once the
  server is back, resumes with nothing lost and nothing done twice.
* ``router``: the same overhead and throughput figures through the LiteLLM proxy
  (``litellm[proxy]``, in its own cached virtual environment, see
  tests/helpers/http_servers.py) routing one model name to two llama-cpp-python
  servers: the plain ``openai`` client and :class:`OpenAIBackend` both talk to the proxy, and
  the throughput run counts what each upstream server received.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import openai  # noqa: E402

from nlrl import SamplingParams  # noqa: E402
from nlrl._exceptions import BackendError  # noqa: E402
from nlrl.backends.llama import default_model_path  # noqa: E402
from nlrl.backends.openai import OpenAIBackend  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers package
from helpers import http_servers  # noqa: E402

ALIAS = "gemma-3-270m"
OUT = ROOT / "benchmarks" / "results" / "backend_http.json"


# ---- the server ------------------------------------------------------------------------------


class Server:
    """llama-cpp-python's server as a child process on a fixed loopback port."""

    def __init__(self, port: int, log_dir: Path, threads: int = 1) -> None:
        self.port, self.threads, self.log_dir = port, threads, log_dir
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc: subprocess.Popen | None = None
        self.log = log_dir / f"server-{port}.log"

    def start(self, timeout_s: float = 120) -> float:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "nlrl.backends.llama_server", "--model", default_model_path(),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", "2048", "--n_threads", str(self.threads),
               "--n_threads_batch", str(self.threads), "--verbose", "False",
               "--interrupt_requests", "False"]
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        while time.perf_counter() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-1500:]}")
            try:
                if httpx.get(self.url + "/models", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not ready")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def served(self) -> int:
        return self.log.read_text(errors="replace").count("POST /v1/completions")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prompts(k: int) -> list[str]:
    return [f"Q: What is {i % 50} + {i // 50 + 1}?\nA:" for i in range(k)]


# ---- (a) overhead ------------------------------------------------------------------------------


def bench_overhead(url: str, n_prompts: int, max_tokens: int, model: str = ALIAS,
                   api_key: str | None = None) -> dict[str, Any]:
    client = openai.OpenAI(base_url=url, api_key=api_key or "EMPTY", max_retries=0, timeout=60)
    os.environ["NLRL_BENCH_API_KEY"] = api_key or "EMPTY"
    backend = OpenAIBackend(model, base_url=url, api_key_env="NLRL_BENCH_API_KEY")
    params = SamplingParams(max_tokens=max_tokens)

    def plain(p: str) -> str:
        r = client.completions.create(model=model, prompt=p, max_tokens=max_tokens,
                                      temperature=0.0, top_p=1.0)
        return r.choices[0].text

    def ours(p: str) -> str:
        return backend.generate([p], params)[0].completions[0].text

    plain("warm up"), ours("warm up")
    times: dict[str, list[float]] = {"openai": [], "nlrl": []}
    same = 0
    for i, p in enumerate(prompts(n_prompts)):
        order = [("openai", plain), ("nlrl", ours)]
        if i % 2:
            order.reverse()
        texts = {}
        for name, fn in order:
            t0 = time.perf_counter()
            texts[name] = fn(p)
            times[name].append(time.perf_counter() - t0)
        same += texts["openai"] == texts["nlrl"]
    backend.close()
    client.close()
    tot = {k: sum(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "requests_each": n_prompts, "max_tokens": max_tokens,
        "openai_client_s": round(tot["openai"], 4), "nlrl_backend_s": round(tot["nlrl"], 4),
        "ratio_total": round(tot["nlrl"] / tot["openai"], 4),
        "median_ms": {k: round(v * 1000, 2) for k, v in med.items()},
        "ratio_median": round(med["nlrl"] / med["openai"], 4),
        "identical_texts": f"{same}/{n_prompts}",
        "goal": "ratio <= 1.05",
    }


class _Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every request
    BODY = json.dumps({"id": "x", "object": "text_completion", "model": ALIAS, "choices": [
        {"index": 0, "text": " 4", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(json.dumps({"data": [{"id": ALIAS}]}).encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(self.BODY)

    def _send(self, raw: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def bench_client_cost(k: int) -> dict[str, Any]:
    """Both clients against a server that answers at once: what each client itself costs."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Instant)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    backend = OpenAIBackend(ALIAS, base_url=url)
    params = SamplingParams(max_tokens=1)
    fns = {"openai": lambda: client.completions.create(model=ALIAS, prompt="2+2=", max_tokens=1,
                                                        temperature=0.0),
           "nlrl": lambda: backend.generate(["2+2="], params)}
    for fn in fns.values():
        for _ in range(20):
            fn()
    per: dict[str, list[float]] = {"openai": [], "nlrl": []}
    for _ in range(5):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(k // 5):
                fn()
            per[name].append((time.perf_counter() - t0) / (k // 5))
    backend.close()
    client.close()
    httpd.shutdown()
    us = {name: round(statistics.median(v) * 1e6, 1) for name, v in per.items()}
    return {"requests_each": k, "median_us_per_request": us,
            "ratio": round(us["nlrl"] / us["openai"], 3)}


# ---- (b) throughput ----------------------------------------------------------------------------


def bench_throughput(server: Server, n: int, concurrency: int, max_tokens: int,
                     url: str | None = None, model: str = ALIAS,
                     upstreams: list[Server] | None = None) -> dict[str, Any]:
    # The server runs one request at a time, so the last of 32 queued ones waits 32 requests'
    # time: on a busy machine that is past the default 60 s timeout (which would retry it).
    backend = OpenAIBackend(model, base_url=url or server.url, max_concurrency=concurrency,
                            api_key_env="NLRL_BENCH_API_KEY", timeout_s=600)
    params = SamplingParams(max_tokens=max_tokens)
    backend.generate(["warm up"], params)
    counted = upstreams or [server]
    befores = [s.served() for s in counted]
    before = sum(befores)
    errors: list[str] = []
    tokens = [0]
    lock = threading.Lock()

    def one(p: str) -> None:
        try:
            g = backend.generate([p], params)[0]
            with lock:
                tokens[0] += g.usage.completion_tokens
        except BackendError as exc:
            with lock:
                errors.append(str(exc))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, prompts(n)))
    wall = time.perf_counter() - t0
    stats = backend.server_stats()[0]
    backend.close()
    return {"requests": n, "concurrency": concurrency, "max_tokens": max_tokens,
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "wall_s": round(wall, 3), "requests_per_s": round(n / wall, 2),
            "completion_tokens_per_s": round(tokens[0] / wall, 1),
            "server_received": sum(s.served() for s in counted) - before,
            **({"upstream_received": [s.served() - b for s, b in zip(counted, befores)]}
               if upstreams else {}),
            "retries": stats["retries"], "goal": "0 errors"}


# ---- (c) fault injection -----------------------------------------------------------------------


def _run_with_kill(server: Server, backend: OpenAIBackend, ps: list[str], kill_after: int,
                   restart_after_s: float | None, max_tokens: int) -> dict[str, Any]:
    params = SamplingParams(max_tokens=max_tokens)
    done, failed = [], []
    lock = threading.Lock()
    killed = threading.Event()
    fail_times: list[float] = []

    def one(p: str) -> None:
        try:
            backend.generate([p], params)
            with lock:
                done.append(p)
                if len(done) >= kill_after and not killed.is_set():
                    killed.set()
        except BackendError as exc:
            with lock:
                failed.append((p, exc))
                fail_times.append(time.perf_counter())

    restart_s = None
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(one, p) for p in ps]
        killed.wait(timeout=300)
        server.kill()
        t_kill = time.perf_counter()
        done_at_kill = len(done)
        if restart_after_s is not None:
            time.sleep(restart_after_s)
            restart_s = server.start()
        for f in futs:
            f.result()
    err = failed[0][1] if failed else None
    return {
        "requests": len(ps), "completed_before_kill": done_at_kill, "completed": len(done),
        "failed": len(failed), "wall_s": round(time.perf_counter() - t0, 2),
        "restart_took_s": round(restart_s, 2) if restart_s else None,
        "last_failure_after_kill_s": round(max(fail_times) - t_kill, 2) if fail_times else None,
        "error": str(err) if err else None,
        "error_type": type(err).__name__ if err else None,
        "attempts": getattr(err, "attempts", None) if err else None,
        "retries_total": sum(s["retries"] for s in backend.server_stats()),
        "failed_prompts": [p for p, _ in failed],
    }


def bench_fault(server: Server, max_tokens: int, bench_limit: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # (1) the server stays down: bounded retries, then a clear error; back up, the rest complete
    backend = OpenAIBackend(ALIAS, base_url=server.url, max_retries=3, backoff_s=0.25,
                            max_backoff_s=2.0)
    res = _run_with_kill(server, backend, prompts(48), kill_after=12, restart_after_s=None,
                         max_tokens=max_tokens)
    server.start()
    params = SamplingParams(max_tokens=max_tokens)
    left = res.pop("failed_prompts")
    redo = backend.generate(left, params) if left else []
    res["after_restart"] = {"rerun": len(left), "completed": sum(bool(g.completions) for g in redo)}
    out["stays_down"] = res
    backend.close()
    # (2) the server comes back within the retry window: nothing fails
    backend = OpenAIBackend(ALIAS, base_url=server.url, max_retries=6, backoff_s=0.5,
                            max_backoff_s=4.0)
    res = _run_with_kill(server, backend, prompts(48), kill_after=12, restart_after_s=1.0,
                         max_tokens=max_tokens)
    res.pop("failed_prompts")
    out["restarted_within_retries"] = res
    backend.close()
    out["bench_resume"] = bench_resume(server, bench_limit)
    return out


def bench_resume(server: Server, limit: int) -> dict[str, Any]:
    """A harness run (BenchRunner + run store) stopped by the kill, then resumed."""
    from nlrl.bench import BenchRunner

    out_dir = Path(tempfile.mkdtemp(prefix="nlrl-http-resume-"))
    backend = OpenAIBackend(ALIAS, base_url=server.url, max_retries=2, backoff_s=0.25,
                            max_backoff_s=1.0)
    runner = BenchRunner(backend, strategy="cot", max_tokens=48, progress=False, plots=False,
                         concurrency=4)
    results = out_dir / "results.jsonl"

    def kill_when_some_done() -> None:
        while not results.exists() or len(results.read_text().splitlines()) < limit // 3:
            time.sleep(0.05)
        server.kill()

    killer = threading.Thread(target=kill_when_some_done, daemon=True)
    killer.start()
    t0 = time.perf_counter()
    error = None
    try:
        runner.run("gsm8k", out_dir, limit=limit)
    except BackendError as exc:
        error = exc
    first_wall = time.perf_counter() - t0
    killer.join(timeout=5)
    before = [json.loads(x) for x in results.read_text().splitlines()]
    summary1 = json.loads((out_dir / "summary.json").read_text())
    server.start()
    served_before = server.served()
    summary2 = runner.run("gsm8k", out_dir, limit=limit)
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    backend.close()
    ids = [r.get("id") for r in rows]
    kept = {r.get("id"): r.get("output") for r in before}
    return {
        "dataset": "gsm8k", "limit": limit, "first_run_wall_s": round(first_wall, 2),
        "first_run_error": str(error) if error else None,
        "first_run_summary_complete": summary1.get("complete"),
        "finished_before_kill": len(before),
        "second_run_requests": server.served() - served_before,
        "final_rows": len(rows), "unique_ids": len(set(ids)),
        "finished_rows_unchanged": all(kept[i] == r.get("output") for i, r in zip(ids, rows) if i in kept),
        "second_run_summary_complete": summary2.get("complete"),
        "accuracy": summary2.get("accuracy"),
    }


# ---- (d) through the LiteLLM router ----------------------------------------------------------


def bench_router(log_dir: Path, threads: int, n_prompts: int, requests: int, concurrency: int,
                 max_tokens: int) -> dict[str, Any]:
    try:
        http_servers.litellm_venv()
    except http_servers.Unavailable as exc:
        return {"skipped": str(exc)}
    ups = [Server(free_port(), log_dir, threads=threads) for _ in range(2)]
    proxy = None
    try:
        for s in ups:
            s.start()
        t0 = time.perf_counter()
        proxy = http_servers.start_litellm(log_dir, {
            "gemma-text": (f"text-completion-openai/{ALIAS}", [s.url for s in ups])})
        out: dict[str, Any] = {
            "router": f"LiteLLM proxy ({http_servers.LITELLM_SPEC}), routing_strategy least-busy, "
                      "master key set, 2 llama-cpp-python servers upstream",
            "proxy_start_s": round(time.perf_counter() - t0, 2)}
        print("router overhead ...", flush=True)
        out["overhead"] = bench_overhead(proxy.url, n_prompts, max_tokens, "gemma-text",
                                         http_servers.LITELLM_KEY)
        print(json.dumps(out["overhead"]), flush=True)
        print("router throughput ...", flush=True)
        out["throughput"] = bench_throughput(ups[0], requests, concurrency, max_tokens,
                                             url=proxy.url, model="gemma-text", upstreams=ups)
        print(json.dumps(out["throughput"]), flush=True)
        return out
    finally:
        if proxy is not None:
            proxy.stop()
        for s in ups:
            s.stop()


# ---- main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--overhead-prompts", type=int, default=40)
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--bench-limit", type=int, default=12)
    ap.add_argument("--server-threads", type=int, default=1,
                    help="llama.cpp threads; 1 holds up best on a busy 2-core machine")
    ap.add_argument("--skip-fault", action="store_true")
    ap.add_argument("--skip-router", action="store_true")
    ap.add_argument("--only", choices=["overhead", "throughput", "fault", "router"],
                    help="run one part and update it in the existing results file")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="nlrl-http-bench-"))
    server = Server(free_port(), log_dir, threads=args.server_threads)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "openai": openai.__version__,
                    "httpx": httpx.__version__,
                    "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "server": "llama-cpp-python server (python -m llama_cpp.server), Gemma 3 270M Q4_K_M, "
                  f"{args.server_threads} thread(s), loopback",
    }
    if args.only and args.out.exists():
        result = {**json.loads(args.out.read_text()), "machine": result["machine"],
                  "server": result["server"]}
    want = {args.only} if args.only else {"overhead", "throughput", "fault", "router"} - (
        {"fault"} if args.skip_fault else set()) - ({"router"} if args.skip_router else set())
    try:
        result["server_start_s"] = round(server.start(), 2)
        if "overhead" in want:
            print("overhead ...", flush=True)
            result["overhead"] = bench_overhead(server.url, args.overhead_prompts, args.max_tokens)
            result["client_cost_instant_server"] = bench_client_cost(1000)
            print(json.dumps(result["overhead"]), flush=True)
        if "throughput" in want:
            print("throughput ...", flush=True)
            result["throughput"] = bench_throughput(server, args.requests, args.concurrency,
                                                    args.max_tokens)
            print(json.dumps(result["throughput"]), flush=True)
        if "fault" in want:
            print("fault injection ...", flush=True)
            result["fault"] = bench_fault(server, args.max_tokens, args.bench_limit)
            print(json.dumps(result["fault"], indent=1), flush=True)
    finally:
        server.stop()
    if "router" in want:
        result["router"] = bench_router(log_dir, args.server_threads, args.overhead_prompts,
                                        args.requests, args.concurrency, args.max_tokens)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
