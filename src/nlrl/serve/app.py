"""The FastAPI application: OpenAI's routes over nlrl's strategies.

``create_app(backend, config)`` builds it; ``nlrl serve`` runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..backends import Backend
from ..rewards import REWARDS
from ..strategies import Budget
from .config import ServeConfig
from .engine import ChoiceResult, Engine, Job, JobSpec
from .errors import APIError, RunCancelled, error_for
from .metrics import Metrics
from .middleware import Gate
from .prompting import chat_task, completion_task
from .render import (DONE, ReasoningWriter, chat_logprobs, completion_logprobs, nlrl_summary, sse,
                     total_usage, usage_dict)
from .routing import SINGLE_PASS, model_ids, resolve
from .schema import ChatRequest, CompletionRequest, NlrlOptions

log = logging.getLogger("nlrl.serve")

AnyRequest = Union[ChatRequest, CompletionRequest]


class RequestLog:
    """One JSON line per request in ``run_dir/serve-requests.jsonl`` (never a key or a prompt).

    The file stays open while the server runs; each line is flushed to the OS as it is written
    (a crash loses none), without reopening the file per request."""

    def __init__(self, run_dir: Path | None) -> None:
        self.path = None if run_dir is None else Path(run_dir) / "serve-requests.jsonl"
        self._lock = threading.Lock()
        self._fh: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"ts": round(time.time(), 3), **record}, ensure_ascii=False, default=str)
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def create_app(backend: Backend, config: ServeConfig | None = None) -> FastAPI:
    """An app serving ``backend`` (which the caller owns and closes)."""
    cfg = config or ServeConfig()
    engine = Engine(backend, max_concurrency=cfg.max_concurrency, max_queue=cfg.max_queue,
                    retry_after_s=cfg.retry_after_s)
    metrics = Metrics()
    reqlog = RequestLog(cfg.run_dir)
    served = tuple(dict.fromkeys((*cfg.model_names, backend.model_name)))
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # A backend whose I/O is asynchronous (the openai proxy) does it on this loop: a cot
        # request then makes its upstream call right here, crossing no thread.
        engine.on_loop = backend.attach_loop(asyncio.get_running_loop())
        try:
            yield
        finally:
            # uvicorn has stopped accepting and waited out its grace period: stop what is left.
            await asyncio.to_thread(engine.close, True)
            if engine.on_loop:
                engine.on_loop = False
                await backend.detach_loop()
            reqlog.close()  # a later line (a request refused at the door) opens it again

    app = FastAPI(title="nlrl", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.engine, app.state.metrics, app.state.request_log = engine, metrics, reqlog

    def rid(request: Request) -> str:
        return request.scope.get("state", {}).get("request_id", "-")

    def record(request: Request | None, status: int, *, route: str, strategy: str = "-", started: float,
               usage: Any = None, error: str | None = None, **extra: Any) -> None:
        latency = time.perf_counter() - started
        metrics.requests.labels(route, strategy, str(status)).inc()
        if usage is not None:
            metrics.prompt_tokens.labels(strategy).inc(usage.prompt_tokens)
            metrics.completion_tokens.labels(strategy).inc(usage.completion_tokens)
        if strategy != "-":
            metrics.latency.labels(strategy).observe(latency)
        reqlog.write(request_id=rid(request) if request is not None else extra.pop("request_id", "-"),
                     route=route, strategy=strategy, status=status, latency_s=round(latency, 4),
                     prompt_tokens=usage.prompt_tokens if usage else 0,
                     completion_tokens=usage.completion_tokens if usage else 0, error=error, **extra)

    def on_reject(scope: dict[str, Any], status: int, why: str) -> None:
        metrics.requests.labels(scope.get("path", "-"), "-", str(status)).inc()
        reqlog.write(request_id=scope.get("state", {}).get("request_id", "-"), route=scope.get("path"),
                     strategy="-", status=status, latency_s=0.0, prompt_tokens=0, completion_tokens=0,
                     error=why)

    def reply(err: APIError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        msg = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            msg, param = f"request body is not valid JSON: {first.get('ctx', {}).get('error', msg)}", None
        elif not loc:
            msg = "request body must be a JSON object (Content-Type: application/json)"
        err = APIError(400, f"{param}: {msg}" if param else msg, param=param, code="invalid_request")
        record(request, 400, route=request.url.path, started=time.perf_counter(), error=err.message)
        return reply(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        msg = {404: f"no route {request.url.path}", 405: f"method {request.method} not allowed on {request.url.path}"}
        err = APIError(status, msg.get(status, str(exc.detail)), code="invalid_request")
        record(request, status, route=request.url.path, started=time.perf_counter(), error=err.message)
        return reply(err)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("request %s failed", rid(request), exc_info=exc)
        err = error_for(exc, rid(request))
        return reply(err)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(served), "runs_in_progress": engine.running,
                "queued": engine.waiting}

    @app.get("/metrics")
    async def prom() -> Response:
        body, ctype = metrics.render(engine)
        return Response(body, media_type=ctype)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [{"id": mid, "object": "model", "created": created, "owned_by": "nlrl",
                 "nlrl": {"strategy": strat or cfg.strategy}} for mid, strat in model_ids(served)]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Response:
        return await handle(request, body, chat=True)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Response:
        return await handle(request, body, chat=False)

    # ---- a request ------------------------------------------------------------------------

    def plan(body: AnyRequest, chat: bool) -> tuple[JobSpec, Any, NlrlOptions]:
        opts = body.nlrl or NlrlOptions()
        route = resolve(body.model, opts.strategy, served, cfg.strategy)
        if body.n > cfg.max_n:
            raise APIError(400, f"n={body.n} is more than this server's cap of {cfg.max_n} (--max-n)",
                           param="n", code="above_cap")
        samples = opts.n or route.n or cfg.samples
        if samples > cfg.max_samples:
            raise APIError(400, f"nlrl.n={samples} is more than this server's cap of {cfg.max_samples} "
                           "(--max-samples)", param="nlrl.n", code="above_cap")
        max_tokens = body.token_limit() or cfg.max_tokens
        if max_tokens > cfg.max_tokens_cap:
            raise APIError(400, f"max_tokens={max_tokens} is more than this server's cap of "
                           f"{cfg.max_tokens_cap} (--max-tokens-cap)", param="max_tokens", code="above_cap")
        total = opts.max_total_tokens
        if total is not None and total > cfg.max_total_tokens_cap:
            raise APIError(400, f"nlrl.max_total_tokens={total} is more than this server's cap of "
                           f"{cfg.max_total_tokens_cap} (--max-total-tokens-cap)",
                           param="nlrl.max_total_tokens", code="above_cap")
        if opts.reward is not None and opts.reward not in REWARDS:
            raise APIError(400, f"unknown reward {opts.reward!r}; known: {', '.join(REWARDS.names())}",
                           param="nlrl.reward", code="unknown_reward")
        logprobs = body.wants_logprobs()
        if logprobs and (route.strategy not in SINGLE_PASS or not backend.supports_logprobs):
            raise APIError(400, f"logprobs are returned for strategy cot on a backend that gives them; "
                           f"this request runs {route.strategy} on {backend.model_name}",
                           param="logprobs", code="unsupported")
        if len(body.stops()) > 16 or any(len(s) > 256 for s in body.stops()):
            raise APIError(400, "stop: at most 16 strings of at most 256 characters", param="stop",
                           code="invalid_value")
        if chat:
            assert isinstance(body, ChatRequest)
            tasks = [chat_task(body.messages, backend, domain=opts.domain, difficulty=opts.difficulty,
                               stop=body.stops())]
        else:
            assert isinstance(body, CompletionRequest)
            prompts = body.prompts()
            if not prompts or len(prompts) > cfg.max_prompts:
                raise APIError(400, f"prompt: give 1 to {cfg.max_prompts} prompts", param="prompt",
                               code="invalid_value")
            tasks = [completion_task(p, domain=opts.domain, stop=body.stops()) for p in prompts]
        budget = Budget(n=samples, max_tokens=max_tokens, max_total_tokens=total,
                        temperature=body.temperature, seed=body.seed)
        adaptive = opts.adaptive if opts.adaptive is not None else chat
        spec = JobSpec(tuple(tasks), body.n, route.strategy, budget, reward=opts.reward, top_p=body.top_p,
                       logprobs=logprobs, adaptive=adaptive,
                       stream_tokens=body.stream and route.strategy in SINGLE_PASS, stream=body.stream)
        return spec, route, opts

    async def handle(request: Request, body: AnyRequest, *, chat: bool) -> Response:
        started = time.perf_counter()
        route_name = request.url.path
        request_id = rid(request)
        strategy = "-"

        def failed(exc: BaseException, err: APIError | None = None) -> Response:
            """The OpenAI error for ``exc`` (a bug is logged with its traceback), recorded."""
            err = err or error_for(exc, request_id)
            if err.status >= 500:
                log.error("request %s failed", request_id, exc_info=exc)
            record(request, err.status, route=route_name, strategy=strategy, started=started, error=err.message)
            return reply(err)

        try:
            spec, route, opts = plan(body, chat)
            strategy = route.strategy
            await engine.admit()
        except Exception as exc:
            return failed(exc)
        job = Job(spec, request_id)
        meta = dict(request_id=request_id, strategy=route.strategy, source=route.source,
                    samples=spec.budget.n, return_trace=opts.return_trace)
        kind = "chat.completion" if chat else "text_completion"
        cid = ("chatcmpl-" if chat else "cmpl-") + request_id
        model_out = body.model or served[0]
        if body.stream:
            fut = engine.submit(job, emit=True)
            fut.add_done_callback(lambda f: job.queue.put_nowait(("end", -1, f)))
            # The status line waits for the run's first event, so a request the engine refuses
            # (a prompt longer than the context, say) still gets its own status, not a 200 stream.
            try:
                first = await job.queue.get()
            except asyncio.CancelledError:
                job.cancel.set()
                raise
            if first[0] == "end" and not first[2].cancelled() and first[2].exception() is not None:
                exc = first[2].exception()
                return failed(exc, APIError(499, "run cancelled", code="cancelled")
                              if isinstance(exc, RunCancelled) else None)
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            gen = stream(request, job, first, chat=chat, cid=cid, model=model_out, meta=meta,
                         include_usage=include_usage, started=started)
            # The background task also runs when the client left before the first chunk was read.
            return StreamingResponse(gen, media_type="text/event-stream", background=BackgroundTask(job.cancel.set),
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        fut = engine.submit(job, emit=False)
        try:
            while True:
                done, _ = await asyncio.wait({fut}, timeout=0.25)
                if done:
                    break
                if await request.is_disconnected():
                    job.cancel.set()
            choices: list[ChoiceResult] = fut.result()
        except asyncio.CancelledError:
            job.cancel.set()
            record(request, 499, route=route_name, strategy=strategy, started=started, error="cancelled")
            raise
        except RunCancelled:
            record(request, 499, route=route_name, strategy=strategy, started=started, error="client disconnected",
                   tokens_streamed=job.tokens)
            return reply(APIError(499, "client disconnected; run cancelled", code="cancelled"))
        except Exception as exc:
            return failed(exc)
        usage = total_usage(choices)
        out_choices = []
        for c in choices:
            if chat:
                item: dict[str, Any] = {"index": c.index, "message": {"role": "assistant", "content": c.result.output},
                                        "logprobs": chat_logprobs(c.tokens) if spec.logprobs else None,
                                        "finish_reason": c.finish_reason}
            else:
                item = {"index": c.index, "text": c.result.output,
                        "logprobs": completion_logprobs(c.tokens) if spec.logprobs else None,
                        "finish_reason": c.finish_reason}
            out_choices.append(item)
        payload = {"id": cid, "object": kind, "created": int(time.time()), "model": model_out,
                   "choices": out_choices, "usage": usage_dict(usage), "nlrl": nlrl_summary(choices, **meta)}
        record(request, 200, route=route_name, strategy=strategy, started=started, usage=usage,
               n=spec.n, stream=False)
        return JSONResponse(payload)

    async def stream(request: Request, job: Job, first_item: tuple[str, int, Any], *, chat: bool, cid: str, model: str, meta: dict[str, Any],
                     include_usage: bool, started: float) -> AsyncIterator[bytes]:
        spec = job.spec
        single = spec.strategy in SINGLE_PASS
        kind = "chat.completion.chunk" if chat else "text_completion"
        now = int(time.time())
        total = len(spec.tasks) * spec.n
        writers = [ReasoningWriter() for _ in range(total)]
        finished: list[ChoiceResult] = []
        status, error = 200, None
        first = True

        def chunk(index: int, *, content: str | None = None, reasoning: str | None = None, finish: str | None = None,
                  nlrl: Any = None, logprobs: Any = None, role: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if role else {}
                if content is not None:
                    delta["content"] = content
                if reasoning is not None:
                    delta["reasoning_content"] = reasoning
                choice: dict[str, Any] = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            else:
                choice = {"index": index, "text": content or "", "logprobs": logprobs, "finish_reason": finish}
                if reasoning is not None:
                    choice["reasoning_content"] = reasoning
            out = {"id": cid, "object": kind, "created": now, "model": model, "choices": [choice]}
            if nlrl is not None:
                out["nlrl"] = nlrl
            return out

        pending: tuple[str, int, Any] | None = first_item
        try:
            if chat:
                for i in range(total):
                    yield sse(chunk(i, content="", role=True))
            while True:
                if pending is not None:
                    (what, index, item), pending = pending, None
                else:
                    what, index, item = await job.queue.get()
                if what != "end" and first:
                    first = False
                    metrics.ttft.labels(spec.strategy).observe(time.perf_counter() - started)
                if what == "token":
                    lp = None
                    if spec.logprobs and item.logprob is not None:
                        lp = chat_logprobs([item]) if chat else completion_logprobs([item])
                    yield sse(chunk(index, content=item.text, logprobs=lp))
                elif what == "gist" and not single:
                    yield sse(chunk(index, reasoning=writers[index].gist(item), nlrl={"gist": item.to_dict()}))
                elif what == "trace":
                    text = None if single else writers[index].event(item)
                    yield sse(chunk(index, reasoning=text, nlrl={"event": item.to_dict()}))
                elif what == "done":
                    c: ChoiceResult = item
                    finished.append(c)
                    if not single:
                        yield sse(chunk(index, content=c.result.output))
                    yield sse(chunk(index, finish=c.finish_reason,
                                    nlrl={"final_answer": c.result.final_answer, "usage": c.result.usage.to_dict()}))
                elif what == "end":
                    exc = item.exception() if not item.cancelled() else RunCancelled()
                    if exc is not None:
                        raise exc
                    break
            summary = nlrl_summary(finished, **meta)
            usage = total_usage(finished)
            tail: dict[str, Any] = {"id": cid, "object": kind, "created": now, "model": model, "choices": [],
                                    "nlrl": summary}
            if include_usage:
                tail["usage"] = usage_dict(usage)
            yield sse(tail)
            yield DONE
            record(request, 200, route=request.url.path, strategy=spec.strategy, started=started, usage=usage,
                   n=spec.n, stream=True)
        except (asyncio.CancelledError, GeneratorExit):
            status, error = 499, "client disconnected"
            job.cancel.set()
            raise
        except RunCancelled:
            status, error = 499, "run cancelled"
        except Exception as exc:
            err = error_for(exc, job.request_id)
            if err.status >= 500:
                log.error("request %s failed", job.request_id, exc_info=exc)
            status, error = err.status, err.message
            yield sse(err.body())
            yield DONE
        finally:
            job.cancel.set()  # nothing more will be read: stop whatever still runs
            if status != 200:
                record(request, status, route=request.url.path, strategy=spec.strategy, started=started,
                       usage=total_usage(finished) if finished else None, error=error, n=spec.n, stream=True,
                       tokens_streamed=job.tokens)

    return Gate(app, api_keys=cfg.api_keys, max_body_bytes=cfg.max_body_bytes, on_reject=on_reject)  # type: ignore[return-value]
