"""Run directories for the viewer's tests, written by the real code paths (``nlrl bench`` and
``nlrl gpi`` through the CLI, and :class:`BenchRunner` where a strategy needs a backend with
log-probabilities) with scripted backends.

Model outputs carry XSS payloads: a page that runs any of them sets ``window.__xss``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from nlrl.backends import ScriptedBackend
from nlrl.bench import BenchRunner, from_dicts, load_dataset
from nlrl.cli import app

XSS_SCRIPT = "<script>window.__xss=1;console.error('xss ran')</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'
XSS_LINK = '<a href="javascript:window.__xss=3" id="xss-link">click me</a>'
XSS_ALL = f"{XSS_SCRIPT} {XSS_IMG} {XSS_LINK} [md](javascript:window.__xss=4)"

cli = CliRunner()


def bench_cli(out: Path, *args: str) -> dict:
    r = cli.invoke(app, ["bench", "--out", str(out), "--run-dir", str(out.parent / "logs"), "-q", "--no-plots",
                         *args])
    assert r.exit_code == 0, r.output
    return json.loads((out / "summary.json").read_text())


def math_refs(k: int) -> list[str]:
    return [str(r.reference) for r in load_dataset("math500").select(limit=k)]


def cot_run(root: Path, name: str = "cot", limit: int = 8) -> Path:
    """CoT on the first MATH-500 problems: right, wrong, an XSS answer, and one with no answer."""
    refs = math_refs(limit)
    outputs = []
    for i, ref in enumerate(refs):
        if i % 4 == 1:
            outputs.append(" I am not sure.\nFinal Answer: 12345\n")
        elif i == 2:
            outputs.append(f" {XSS_ALL}\nFinal Answer: {XSS_IMG}\n")
        else:
            outputs.append(f" Working it out.\nFinal Answer: {ref}\n")
    script = root / f"{name}.json"
    script.write_text(json.dumps(outputs))
    out = root / name
    bench_cli(out, "--dataset", "math500", "--limit", str(limit), "-b", "scripted", "-m", str(script))
    return out


def sc_run(root: Path, name: str = "sc", limit: int = 8) -> Path:
    """Self-consistency n=3 on the same problems, right on a different set than :func:`cot_run`."""
    refs = math_refs(limit)
    outputs = []
    for i, ref in enumerate(refs):
        good = f" Thinking.\nFinal Answer: {ref}\n"
        bad = " Hmm.\nFinal Answer: 777\n"
        outputs += [good, good, bad] if i % 3 != 0 else [bad, bad, good]
    script = root / f"{name}.json"
    script.write_text(json.dumps(outputs))
    out = root / name
    bench_cli(out, "--dataset", "math500", "--limit", str(limit), "-b", "scripted", "-m", str(script),
              "--strategy", "self-consistency", "--n", "3", "--temperature", "0.7")
    return out


def code_run(root: Path, name: str = "code") -> Path:
    """CoT on the first MBPP problem: code that prints (with markup, and XSS on stderr) and fails the tests."""
    outputs = ["```python\nimport sys\ndef similar_elements(a, b):\n    print('debug <b>', a)\n"
               f"    print({XSS_ALL!r}, file=sys.stderr)\n    return (1,)\n```\n"]
    script = root / f"{name}.json"
    script.write_text(json.dumps(outputs))
    out = root / name
    bench_cli(out, "--dataset", "mbpp", "--limit", "1", "-b", "scripted", "-m", str(script))
    return out


def _logprob(tok: str) -> float:
    return -2.0 if "bad" in tok else -0.05


def beam_script(prompt: str, index: int) -> str:
    """A step model: 'good' steps lead to the answer 7, 'bad' ones to 99."""
    body = prompt.rsplit("Answer:\n", 1)[1]
    depth = body.count("\n")
    if depth == 0:
        return ["good start\n", "bad start\n"][index % 2]
    if "bad start" in body:
        return ["bad guess\n", "Final Answer: 99\n"][index % 2]
    if depth == 1:
        return ["good middle\n", "also good\n"][index % 2]
    return ["Final Answer: 7\n", f"Final Answer: 7 {XSS_IMG}\n"][index % 2]


def search_run(root: Path, strategy: str, options: dict | None = None) -> Path:
    """``mcts``, ``dvts`` or ``particle-filter`` on the step model of the search strategies' tests,
    one of whose steps carries an XSS payload."""
    from helpers.search import step_script

    def script(prompt: str, index: int) -> str:
        return step_script(prompt, index).replace("good middle", f"good middle {XSS_IMG}")

    out = root / strategy
    BenchRunner(ScriptedBackend(script, logprob=_logprob), strategy=strategy, n=4, temperature=0.7,
                strategy_options=options or {}, progress=False, plots=False).run(custom_dataset(2), out)
    return out


def custom_dataset(k: int = 2):
    rows = [{"id": f"q{i}", "question": f"What is {3 + i} + 4? {XSS_SCRIPT if i == 0 else ''}", "answer": str(7 + i)}
            for i in range(k)]
    return from_dicts(rows, name="toy")


def beam_run(root: Path, name: str = "beam") -> Path:
    backend = ScriptedBackend(beam_script, logprob=_logprob)
    out = root / name
    BenchRunner(backend, strategy="beam", n=2, strategy_options={"expansions": 2, "max_steps": 4},
                progress=False, plots=False).run(custom_dataset(2), out)
    return out


def refine_script(prompt: str, index: int) -> str:
    if "Review" in prompt or "review" in prompt.splitlines()[0].lower():
        return "The sum is wrong.\nVerdict: incorrect\n"
    if "revise" in prompt.lower() or "Revised" in prompt:
        return f" Let me fix it. {XSS_LINK}\nFinal Answer: 7\n"
    return " 3 + 4 = 8.\nFinal Answer: 8\n"


def strategy_run(root: Path, strategy: str, script, *, n: int = 3, options: dict | None = None,
                 reward=None, logprob=None, temperature=None) -> Path:
    backend = ScriptedBackend(script, logprob=logprob)
    out = root / strategy
    BenchRunner(backend, strategy=strategy, n=n, strategy_options=options or {}, reward=reward,
                temperature=temperature, progress=False, plots=False).run(custom_dataset(2), out)
    return out


def answer_script(answers):
    def script(prompt: str, index: int) -> str:
        return f" Computing.\nFinal Answer: {answers[index % len(answers)]}\n"
    return script


#: divide-and-conquer, in call order for two questions: plan, two sub-answers, composed answer
DC_SCRIPT = [" 1. What is the first number plus 4?\n2. Is anything left to add?\n", " 7", " No, the total is 7", " 7",
             " 1. What is 4 + 4?\n2. Is the result even?\n", " 8", " yes", " 8"]


def gpi_run(root: Path, name: str = "gpi") -> Path:
    """``nlrl gpi`` on tic-tac-toe with a scripted model registered for the call."""
    from nlrl.backends import BACKENDS

    def policy(q, index):
        cells = re.findall(r"Empty cells: (.*)", q)
        free = cells[-1].split(", ") if cells else ["down"]
        cell = free[index % min(2, len(free))]
        return f'a free <b>cell</b>", "action": "{cell}"}}\n'

    def answer(thought, **fields):
        return f'{thought}"' + "".join(f', "{k}": "{v}"' for k, v in fields.items()) + "}\n"

    kinds = {"Pick one empty cell": "policy", "Evaluate the position": "value", "in hindsight": "mc",
             "look-ahead variations": "td", "Choose the best move": "improve"}

    def model(prompt: str, index: int) -> str:
        head = prompt.splitlines()[0]
        kind = next((k for key, k in kinds.items() if key in head), "value")
        q = prompt.rsplit("}\n\n", 1)[-1]
        if kind == "policy":
            return policy(q, index)
        if kind == "improve":
            cands = re.findall(r"Move (\S+):", q)
            return answer(f"pick the first {XSS_IMG}", action=cands[0] if cands else "a1")
        return answer(f"even game {XSS_SCRIPT}", final_evaluation="even" if index % 2 else "X is better")

    BACKENDS._entries["view-gpi-test"] = lambda model_name=None, **kw: ScriptedBackend(model)
    try:
        out = root / name
        r = cli.invoke(app, ["gpi", "--env", "tictactoe", "--iterations", "2", "--games", "3", "--backend",
                             "view-gpi-test", "--out", str(out), "--max-states", "2", "--opponent", "first", "-q"])
        assert r.exit_code == 0, r.output
    finally:
        BACKENDS._entries.pop("view-gpi-test", None)
    return out


def all_runs(root: Path) -> dict[str, Path]:
    """Every kind of run the viewer draws, under ``root``."""
    runs = {"cot": cot_run(root), "sc": sc_run(root), "beam": beam_run(root)}
    runs["best-of-n"] = strategy_run(root, "best-of-n", answer_script(["7", "8", "7"]), reward="agreement",
                                     temperature=0.7)
    runs["self-refine"] = strategy_run(root, "self-refine", refine_script, n=2)
    runs["divide-and-conquer"] = strategy_run(root, "divide-and-conquer", DC_SCRIPT, n=1)
    runs["auto"] = strategy_run(root, "auto", answer_script(["7", "7", "8", "7"]), n=4)
    runs["gpi"] = gpi_run(root)
    runs["code"] = code_run(root)
    runs["serve"] = serve_log(root)
    runs["mcts"] = search_run(root, "mcts", {"iterations": 8})
    runs["dvts"] = search_run(root, "dvts", {"width": 2})
    runs["particle-filter"] = search_run(root, "particle-filter")
    return runs


def big_run(root: Path, template: Path, n: int, name: str = "big") -> Path:
    """A run of ``n`` samples for the table's scale: the rows of a real run (``template``),
    repeated under new ids, with results.jsonl and summary.json as ``nlrl bench`` writes them."""
    from nlrl.bench.metrics import summarize
    from nlrl.bench.store import dumps

    rows = [json.loads(line) for line in (template / "results.jsonl").read_text().splitlines() if line.strip()]
    base = json.loads((template / "summary.json").read_text())
    out = root / name
    out.mkdir()
    big = []
    for k in range(n):
        row = dict(rows[k % len(rows)])
        row.update(id=f"{row['id']}#{k}", index=k)
        big.append(row)
    (out / "results.jsonl").write_text("".join(dumps(r) + "\n" for r in big), encoding="utf-8")
    summary = summarize(big, config=base["config"], selected=n, wall_s=1.0)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return out


#: ``python -c SLOW_BENCH OUT N DELAY``: a CoT run of N toy questions whose model takes DELAY
#: seconds per call, so a viewer can watch it being written.
SLOW_BENCH = """
import sys, time
from nlrl.backends import ScriptedBackend
from nlrl.bench import BenchRunner, from_dicts
out, n, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def model(prompt, index):
    time.sleep(delay)
    return " Adding.\\nFinal Answer: 7\\n"
ds = from_dicts([{"id": f"s{i}", "question": f"What is {i} + {7 - i}?", "answer": "7" if i % 3 else "8"}
                 for i in range(n)], name="live")
BenchRunner(ScriptedBackend(model), strategy="cot", progress=False, plots=False).run(ds, out)
"""


def serve_log(root: Path, name: str = "serve", n: int = 150) -> Path:
    """An ``nlrl serve`` run directory's request log: written by the server's own RequestLog when
    this checkout has ``nlrl serve``, else as the same JSON lines (its documented fields)."""
    import time

    out = root / name
    out.mkdir()
    try:
        from nlrl.serve.app import RequestLog  # type: ignore[import-not-found]

        write = RequestLog(out).write
    except ImportError:
        def write(**record):
            with open(out / "serve-requests.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"ts": round(time.time(), 3), **record}) + "\n")
    for k in range(n):
        strategy = ("cot", "self-consistency", "best-of-n")[k % 3]
        status = 429 if k % 10 == 9 else (400 if k % 25 == 24 else 200)
        write(request_id=f"req-{k}", route="/v1/chat/completions", strategy=strategy, status=status,
              latency_s=round(0.05 * (1 + k % 3) + 0.001 * k, 4), prompt_tokens=40 + k % 7,
              completion_tokens=0 if status != 200 else 20 + k % 5,
              error=None if status == 200 else (f"bad request {XSS_IMG}" if status == 400 else "queue full"))
    return out
