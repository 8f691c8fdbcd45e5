"""A small OpenAI-compatible server with native ``n`` that interleaves its choices' chunks.

vLLM and SGLang answer ``n`` natively and stream the choices mixed in one stream (chunks of
different ``index`` values, in whatever order they are decoded). Neither installs on a CPU-only
CI machine, so this server plays that part for the conformance matrix; llama-cpp-python's server
(no native n) and the LiteLLM proxy are the real ones.

Its "model" writes seeded pseudo-words: choice ``j`` of a request with seed ``s`` draws from
``random.Random(s + j)`` (a request without a seed draws a fresh one), so distinct seeds give
distinct samples and one seed gives one sample, as a real sampler does. It honours ``stop``,
``max_tokens``, ``logprobs`` and ``stream_options.include_usage``; streams interleave the choices
in a shuffled order and put ``finish_reason`` on the last chunk that carries text; and it has a
``/tokenize`` route (vLLM's). Every request body is appended to ``--log`` (one JSON per line)
so tests can check what was really asked.

    python tests/helpers/conformance_server.py --port 8000 --log requests.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MODEL = "conformance-model"
WORDS = ["The", "answer", "is", "4", "5", "11", "so", "we", "add", "two", "and", "three",
         "numbers", "then", "sum", "equals", ".", ",", "\n", "Answer:", "Step", "1:", "2:"]


def tokens(seed: int, n_max: int) -> list[str]:
    rng = random.Random(seed)
    return [(" " if rng.random() < 0.8 else "") + rng.choice(WORDS) for _ in range(n_max)]


def apply_stop(toks: list[str], stops: list[str]) -> tuple[list[str], str]:
    """Tokens up to the first stop string (cut inside a token where it starts), and why."""
    text, out = "", []
    for t in toks:
        text += t
        hits = [i for i in (text.find(s) for s in stops) if i >= 0]
        if hits:
            keep = min(hits) - (len(text) - len(t))
            if keep > 0:
                out.append(t[:keep])
            return out, "stop"
        out.append(t)
    return out, "length"


def build_app(log_path: str | None) -> FastAPI:
    app = FastAPI()

    def record(path: str, body: dict[str, Any]) -> None:
        if log_path:
            with open(log_path, "a") as fh:
                fh.write(json.dumps({"path": path, "body": body}) + "\n")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model",
                                            "owned_by": "nlrl-tests", "max_model_len": 2048}]}

    @app.post("/tokenize")
    async def tokenize(request: Request) -> dict[str, Any]:
        body = await request.json()
        text = body.get("prompt") or ""
        return {"tokens": list(range(len(text.split()))), "count": len(text.split())}

    async def generate(request: Request, chat: bool) -> Any:
        body = await request.json()
        record(request.url.path, body)
        if body.get("model") != MODEL:
            return JSONResponse({"error": {"message": f"model {body.get('model')!r} not found",
                                           "type": "invalid_request_error", "code": 404}}, 404)
        n = int(body.get("n") or 1)
        max_tokens = int(body.get("max_tokens") or 16)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        seed = body.get("seed")
        base = int(seed) if seed is not None else random.randrange(2**31)
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        choices = [apply_stop(tokens(base + j, max_tokens), stops) for j in range(n)]
        usage = {"prompt_tokens": len(prompt.split()),
                 "completion_tokens": sum(len(t) for t, _ in choices)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        want_lp = bool(body.get("logprobs"))
        kind = "chat.completion" if chat else "text_completion"
        if not body.get("stream"):
            out = []
            for j, (toks, finish) in enumerate(choices):
                c: dict[str, Any] = {"index": j, "finish_reason": finish}
                lps = [-0.1 * (k + 1) for k in range(len(toks))]
                if chat:
                    c["message"] = {"role": "assistant", "content": "".join(toks)}
                    c["logprobs"] = ({"content": [{"token": t, "logprob": lp}
                                                  for t, lp in zip(toks, lps)]} if want_lp else None)
                else:
                    c["text"] = "".join(toks)
                    c["logprobs"] = ({"tokens": toks, "token_logprobs": lps} if want_lp else None)
                out.append(c)
            return {"id": "cmpl-conf", "object": kind, "created": int(time.time()),
                    "model": MODEL, "choices": out, "usage": usage}

        # Interleave: every choice's chunks in order, the choices mixed in a shuffled order.
        rng = random.Random(base ^ 0x5EED)
        queue = [j for j, (toks, _) in enumerate(choices) for _ in range(max(1, len(toks)))]
        rng.shuffle(queue)
        pos = [0] * n
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(j: int, piece: str, k: int, finish: str | None) -> str:
            c: dict[str, Any] = {"index": j, "finish_reason": finish}
            lp = {"logprob": -0.1 * (k + 1)}
            if chat:
                c["delta"] = {"content": piece} if piece else {}
                c["logprobs"] = {"content": [{"token": piece, **lp}]} if want_lp and piece else None
            else:
                c["text"] = piece
                c["logprobs"] = ({"tokens": [piece], "token_logprobs": [lp["logprob"]]}
                                 if want_lp and piece else None)
            kind_ = "chat.completion.chunk" if chat else "text_completion"
            return "data: " + json.dumps({"id": "cmpl-conf", "object": kind_, "model": MODEL,
                                          "choices": [c]}) + "\n\n"

        def events():
            for j in queue:
                toks, finish = choices[j]
                k = pos[j]
                pos[j] += 1
                last = pos[j] >= len(toks)
                yield chunk(j, toks[k] if k < len(toks) else "", k, finish if last else None)
            if include_usage:
                yield "data: " + json.dumps({"id": "cmpl-conf", "object": kind, "model": MODEL,
                                             "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await generate(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await generate(request, chat=True)

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    uvicorn.run(build_app(args.log), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
