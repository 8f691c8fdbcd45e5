"""Prometheus metrics, one registry per app (so two servers in one process do not collide)."""

from __future__ import annotations

from typing import Any


class Metrics:
    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:  # pragma: no cover - part of the serve extra
            raise ImportError("nlrl serve needs prometheus-client: pip install 'nlrl[serve]'") from exc
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("nlrl_requests", "Requests answered, by route, strategy and status",
                                ["route", "strategy", "status"], registry=r)
        self.prompt_tokens = Counter("nlrl_prompt_tokens", "Prompt tokens evaluated over every model call",
                                     ["strategy"], registry=r)
        self.completion_tokens = Counter("nlrl_completion_tokens", "Tokens generated over every model call",
                                         ["strategy"], registry=r)
        self.queue_depth = Gauge("nlrl_queue_depth", "Requests waiting for a run slot", registry=r)
        self.running = Gauge("nlrl_runs_in_progress", "Strategy runs executing now", registry=r)
        buckets = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
        self.latency = Histogram("nlrl_request_latency_seconds", "Time from request to last byte",
                                 ["strategy"], buckets=buckets, registry=r)
        self.ttft = Histogram("nlrl_time_to_first_token_seconds", "Time to the first streamed token or gist",
                              ["strategy"], buckets=buckets, registry=r)

    def render(self, engine: Any) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self.queue_depth.set(engine.waiting)
        self.running.set(engine.running)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
