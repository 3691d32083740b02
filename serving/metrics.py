"""Prometheus metrics: request latency, scores served and the model version in service.

Each app gets its own `CollectorRegistry` so several apps (tests, workers) never collide on names.
Latency is labelled by the route *template* (`/v1/plans/{plan_id}`), never the raw path, and by the
method only when it is one of HTTP's standard ones (anything else is `other`), so the label set stays
bounded whatever clients send: 300 made-up methods once added 300 series.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# single-listing scoring is a few ms; batches and plans run to seconds
#: the methods that get their own label; a client can send any token as a method
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The app's metric families."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "choujian_request_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.scores = Counter(
            "choujian_scores_served",
            "listings scored, by endpoint and decision",
            ["endpoint", "decision"],
            registry=self.registry,
        )
        self.model = Gauge(
            "choujian_model_info",
            "the model in service (value 1 on the current version)",
            ["name", "version"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "choujian_model_reloads", "model reloads by outcome", ["outcome"], registry=self.registry
        )

    def set_model(self, name: str, version: str) -> None:
        """Mark `name`/`version` as the model in service (and clear the previous one)."""
        self.model.clear()
        self.model.labels(name=name, version=version).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route_template(scope: Scope) -> str:
    """The matched route's template (set in the scope by the router), or `unmatched` (404s, 413s)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.latency.labels(route=route, method=method, status=str(status)).observe(
                time.perf_counter() - start
            )
